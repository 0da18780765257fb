package kubernetes

import "time"

// SetNow replaces the provider's clock (the Secret sweep's).
func (p *Provider) SetNow(now func() time.Time) { p.now = now }

// ObjectName is objectName, for tests.
var ObjectName = objectName

// LabelValue is labelValue, for tests.
var LabelValue = labelValue

// SetServiceAccountDir points the in-cluster configuration at dir and returns the
// function that puts it back.
func SetServiceAccountDir(dir string) func() {
	old := serviceAccountDir
	serviceAccountDir = dir
	return func() { serviceAccountDir = old }
}

// WatchFailed is watchFailed, for tests.
func (p *Provider) WatchFailed(ns string, err error) { p.watchFailed(ns, err) }
