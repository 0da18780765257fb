package portalapi_test

import (
	"encoding/json"
	"reflect"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// FuzzMergePatch applies any JSON patch to any JSON document: no panic, and RFC 7396's
// properties hold: the result never holds a null that the patch set (null deletes), and
// applying the patch a second time changes nothing.
func FuzzMergePatch(f *testing.F) {
	for _, s := range [][2]string{
		{`{"a":"b"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`},
		{`{"a":["b"]}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`},
		{`{"a":"foo"}`, `null`},
		{`{"a":"foo"}`, `"bar"`},
		{`{"e":null}`, `{"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
		{`{"max_runners":5,"runner":{"image":"x","env":{"A":"1"}}}`, `{"runner":{"env":{"A":null,"B":"2"}},"schedule":[]}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, target, patch string) {
		var tv, pv, again any
		if json.Unmarshal([]byte(target), &tv) != nil || json.Unmarshal([]byte(patch), &pv) != nil {
			return
		}
		_ = json.Unmarshal([]byte(target), &again)
		once := portalapi.MergePatch(tv, pv)
		onceJSON, err := json.Marshal(once)
		if err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
		var copyOnce any
		_ = json.Unmarshal(onceJSON, &copyOnce)
		twice := portalapi.MergePatch(copyOnce, pv)
		if !reflect.DeepEqual(normal(t, once), normal(t, twice)) {
			t.Fatalf("patch %s on %s: once %s, twice %v", patch, target, onceJSON, twice)
		}
		if p, ok := pv.(map[string]any); ok {
			res, _ := once.(map[string]any)
			for k, v := range p {
				if _, kept := res[k]; v == nil && kept {
					t.Fatalf("patch %s on %s: %q set to null is still in %s", patch, target, k, onceJSON)
				}
			}
		}
	})
}

func normal(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
