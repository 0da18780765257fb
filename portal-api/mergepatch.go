package portalapi

// MergePatch applies a JSON merge patch (RFC 7396) to target, both as decoded by
// encoding/json into any: objects merge key by key, null deletes a key, anything else
// replaces. It is how PATCH on a policy works, for the server and for clients that want
// to preview a patch.
func MergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = MergePatch(t[k], v)
	}
	return t
}
