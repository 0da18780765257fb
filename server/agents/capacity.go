package agents

import (
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/protocol"
)

// capacityOf reads what an agent reports it may hold at once (nil: no limit), calling
// bad for each field that does not read.
func capacityOf(c *protocol.Capacity, bad func(field, format string, args ...any)) store.AgentCapacity {
	var out store.AgentCapacity
	if c == nil {
		return out
	}
	switch {
	case c.MaxRunners < 0 || c.MaxRunners > 100000:
		bad("capacity.max_runners", "must be between 0 (no limit) and 100000, got %d", c.MaxRunners)
	case c.MaxRunners > 0:
		n := c.MaxRunners
		out.MaxRunners = &n
	}
	if c.CPU != "" {
		v, err := guardrails.MilliCPU(c.CPU)
		if err != nil {
			bad("capacity.cpu", "%v", err)
		}
		out.CPUMilli = &v
	}
	if c.Memory != "" {
		v, err := guardrails.MemoryBytes(c.Memory)
		if err != nil {
			bad("capacity.memory", "%v", err)
		}
		out.MemoryBytes = &v
	}
	return out
}

// weight is how many repositories an agent takes relative to the others of its group
// when they are handed over: its max_runners, else its CPUs; an agent without a limit
// weighs as much as the largest limited one (dflt).
func weight(a store.Agent, dflt int64) int64 {
	switch {
	case a.CapacityMaxRunners != nil && *a.CapacityMaxRunners > 0:
		return int64(*a.CapacityMaxRunners)
	case a.CapacityCPUMilli != nil && *a.CapacityCPUMilli > 0:
		return max(1, *a.CapacityCPUMilli/1000)
	}
	return dflt
}

// sameCapacity reports whether a's stored capacity is c.
func sameCapacity(a *store.Agent, c store.AgentCapacity) bool {
	return eq(a.CapacityMaxRunners, c.MaxRunners) && eq(a.CapacityCPUMilli, c.CPUMilli) && eq(a.CapacityMemoryBytes, c.MemoryBytes)
}

func eq[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// capacityToAPI is a's reported capacity as the portal shows it (nil: no limit).
func capacityToAPI(a *store.Agent) *portalapi.AgentCapacity {
	var c portalapi.AgentCapacity
	if a.CapacityMaxRunners != nil {
		c.MaxRunners = *a.CapacityMaxRunners
	}
	if a.CapacityCPUMilli != nil {
		c.CPU = guardrails.FormatMilliCPU(*a.CapacityCPUMilli)
	}
	if a.CapacityMemoryBytes != nil {
		c.Memory = guardrails.FormatBytes(*a.CapacityMemoryBytes)
	}
	if c == (portalapi.AgentCapacity{}) {
		return nil
	}
	return &c
}
