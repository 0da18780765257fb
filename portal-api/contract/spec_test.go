package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// wireTypes maps each object schema of the spec to the Go type of package portalapi that
// travels in its place. response says whether the server sends it: then the schema's
// required list must be exactly the fields without omitempty (or omitzero).
var wireTypes = map[string]struct {
	typ      reflect.Type
	response bool
}{
	"PolicyCreate":             {reflect.TypeFor[portalapi.PolicyRequest](), false},
	"PolicyRequest":            {reflect.TypeFor[portalapi.PolicyRequest](), false},
	"AgentGroupRequest":        {reflect.TypeFor[portalapi.AgentGroupRequest](), false},
	"AgentGroupPatch":          {reflect.TypeFor[portalapi.AgentGroupPatch](), false},
	"AgentGroupConstraints":    {reflect.TypeFor[portalapi.AgentGroupConstraints](), true},
	"TokenRequest":             {reflect.TypeFor[portalapi.TokenRequest](), false},
	"Policy":                   {reflect.TypeFor[portalapi.Policy](), true},
	"PolicyServing":            {reflect.TypeFor[portalapi.PolicyServing](), true},
	"RunnerSpec":               {reflect.TypeFor[portalapi.RunnerSpec](), true},
	"DockerSpec":               {reflect.TypeFor[portalapi.DockerSpec](), true},
	"DockerVolume":             {reflect.TypeFor[portalapi.DockerVolume](), true},
	"KubernetesSpec":           {reflect.TypeFor[portalapi.KubernetesSpec](), true},
	"Toleration":               {reflect.TypeFor[portalapi.Toleration](), true},
	"PolicyList":               {reflect.TypeFor[portalapi.PolicyList](), true},
	"AgentGroup":               {reflect.TypeFor[portalapi.AgentGroup](), true},
	"AgentGroupList":           {reflect.TypeFor[portalapi.AgentGroupList](), true},
	"Token":                    {reflect.TypeFor[portalapi.Token](), true},
	"CreatedToken":             {reflect.TypeFor[portalapi.CreatedToken](), true},
	"TokenList":                {reflect.TypeFor[portalapi.TokenList](), true},
	"WhoAmI":                   {reflect.TypeFor[portalapi.WhoAmI](), true},
	"AuditEvent":               {reflect.TypeFor[portalapi.AuditEvent](), true},
	"AuditEventList":           {reflect.TypeFor[portalapi.AuditEventList](), true},
	"VersionInfo":              {reflect.TypeFor[portalapi.VersionInfo](), true},
	"Health":                   {reflect.TypeFor[portalapi.Health](), true},
	"ErrorBody":                {reflect.TypeFor[portalapi.ErrorBody](), true},
	"ErrorDetail":              {reflect.TypeFor[portalapi.ErrorDetail](), true},
	"FieldError":               {reflect.TypeFor[portalapi.FieldError](), true},
	"Agent":                    {reflect.TypeFor[portalapi.Agent](), true},
	"AgentList":                {reflect.TypeFor[portalapi.AgentList](), true},
	"Runner":                   {reflect.TypeFor[portalapi.Runner](), true},
	"RunnerList":               {reflect.TypeFor[portalapi.RunnerList](), true},
	"JobWait":                  {reflect.TypeFor[portalapi.JobWait](), true},
	"GitHubRateLimits":         {reflect.TypeFor[portalapi.GitHubRateLimits](), true},
	"GitHubBudget":             {reflect.TypeFor[portalapi.GitHubBudget](), true},
	"RegistrationTokenRequest": {reflect.TypeFor[portalapi.RegistrationTokenRequest](), false},
	"RegistrationToken":        {reflect.TypeFor[portalapi.RegistrationToken](), true},
	"CreatedRegistrationToken": {reflect.TypeFor[portalapi.CreatedRegistrationToken](), true},
	"RegistrationTokenList":    {reflect.TypeFor[portalapi.RegistrationTokenList](), true},
	"UsageReport":              {reflect.TypeFor[portalapi.UsageReport](), true},
	"UsageRow":                 {reflect.TypeFor[portalapi.UsageRow](), true},
	"UsageTotals":              {reflect.TypeFor[portalapi.UsageTotals](), true},
}

// scalarTypes are the named scalar schemas whose examples decode into Go values.
var scalarTypes = map[string]reflect.Type{
	"Name":     reflect.TypeFor[string](),
	"Label":    reflect.TypeFor[string](),
	"Duration": reflect.TypeFor[portalapi.Duration](),
}

// jsonFields returns the JSON members of struct type t, each with whether it is omitempty,
// following embedded structs the way encoding/json does.
func jsonFields(t reflect.Type) map[string]bool {
	fields := make(map[string]bool)
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			for k, v := range jsonFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fields[name] = slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
	}
	return fields
}

func TestSchemasMatchWireTypes(t *testing.T) {
	t.Parallel()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for name, wt := range wireTypes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ref := doc.Components.Schemas[name]
			if ref == nil {
				t.Fatalf("no schema %s", name)
			}
			s := ref.Value
			if ap := s.AdditionalProperties.Has; ap == nil || *ap {
				t.Errorf("schema %s is not closed (additionalProperties: false)", name)
			}
			fields := jsonFields(wt.typ)
			var props, goNames, wantRequired []string
			for p := range s.Properties {
				props = append(props, p)
			}
			for f, omitempty := range fields {
				goNames = append(goNames, f)
				if !omitempty {
					wantRequired = append(wantRequired, f)
				}
			}
			slices.Sort(props)
			slices.Sort(goNames)
			if !slices.Equal(props, goNames) {
				t.Errorf("schema properties %q, Go fields %q", props, goNames)
			}
			if !wt.response {
				return
			}
			required := slices.Sorted(slices.Values(s.Required))
			slices.Sort(wantRequired)
			if !slices.Equal(required, wantRequired) {
				t.Errorf("required %q, but the server always sends %q", required, wantRequired)
			}
		})
	}
}

// decodeStrict decodes v (an example as loaded from YAML) into a new value of type typ,
// refusing unknown fields, and returns it.
func decodeStrict(t *testing.T, v any, typ reflect.Type) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode example: %v", err)
	}
	out := reflect.New(typ)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out.Interface()); err != nil {
		t.Fatalf("example %s does not decode into %s: %v", raw, typ, err)
	}
	return out.Interface()
}

// sameJSON reports whether a and b encode to the same JSON value.
func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	norm := func(v any) any {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var out any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestExamplesDecodeIntoWireTypes(t *testing.T) {
	t.Parallel()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}

	// Schema examples. Those of types the server sends must also be what it would send:
	// decoding and encoding them again changes nothing (durations in long form, and so on).
	for name, ref := range doc.Components.Schemas {
		ex := ref.Value.Example
		if ex == nil {
			continue
		}
		switch wt, ok := wireTypes[name]; {
		case ok:
			got := decodeStrict(t, ex, wt.typ)
			if wt.response && !sameJSON(t, got, ex) {
				t.Errorf("example of %s is not in the server's form: %s", name, must(json.Marshal(got)))
			}
		case scalarTypes[name] != nil:
			decodeStrict(t, ex, scalarTypes[name])
		case name == "PolicyPatch":
			// A patch is checked by applying it, as the server does, to the Policy example.
			base := decodeStrict(t, doc.Components.Schemas["Policy"].Value.Example, reflect.TypeFor[portalapi.Policy]()).(*portalapi.Policy)
			var target any
			if err := json.Unmarshal(must(json.Marshal(base.Request())), &target); err != nil {
				t.Fatal(err)
			}
			got := decodeStrict(t, portalapi.MergePatch(target, ex), reflect.TypeFor[portalapi.PolicyRequest]()).(*portalapi.PolicyRequest)
			if got.MaxRunners != 40 || *got.Enabled || got.Runner.Memory != "8Gi" || got.Runner.Image != base.Runner.Image {
				t.Errorf("patched policy request = %+v", got)
			}
		default:
			t.Errorf("schema %s has an example but this test does not know its Go type", name)
		}
	}

	// Examples of response bodies, such as the error bodies of the reusable responses.
	check := func(where string, content openapi3.Content) {
		for mt, m := range content {
			if m.Example == nil || !strings.HasSuffix(mt, "json") {
				continue // a text/csv example is no JSON to decode
			}
			name := schemaName(m.Schema)
			wt, ok := wireTypes[name]
			if !ok {
				t.Errorf("%s %s: example of schema %q with no known Go type", where, mt, name)
				continue
			}
			got := decodeStrict(t, m.Example, wt.typ)
			if !sameJSON(t, got, m.Example) {
				t.Errorf("%s %s: example is not in the server's form: %s", where, mt, must(json.Marshal(got)))
			}
		}
	}
	for name, r := range doc.Components.Responses {
		check("response "+name, r.Value.Content)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, r := range op.Responses.Map() {
				if r.Ref == "" {
					check(method+" "+path+" "+status, r.Value.Content)
				}
			}
		}
	}
}

// schemaName names the component schema behind ref, looking through a leading allOf.
func schemaName(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return ""
	}
	if ref.Ref == "" && ref.Value != nil && len(ref.Value.AllOf) > 0 {
		ref = ref.Value.AllOf[0]
	}
	return strings.TrimPrefix(ref.Ref, "#/components/schemas/")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
