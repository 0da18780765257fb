package kubernetes

import "time"

// SetNow replaces the provider's clock (the Secret sweep's).
func (p *Provider) SetNow(now func() time.Time) { p.now = now }

// ObjectName is objectName, for tests.
var ObjectName = objectName

// LabelValue is labelValue, for tests.
var LabelValue = labelValue
