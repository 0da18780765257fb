package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// StringList is a []string kept as a JSON array in a TEXT column; nil is stored as [].
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	raw, err := textOf(src)
	if err != nil {
		return err
	}
	out := []string{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("decode string list: %w", err)
		}
	}
	*l = out
	return nil
}

// JSONText is a JSON document kept verbatim in a TEXT column; empty is stored as NULL.
type JSONText []byte

// Value implements driver.Valuer.
func (j JSONText) Value() (driver.Value, error) {
	if len(j) == 0 {
		return nil, nil
	}
	return string(j), nil
}

// Scan implements sql.Scanner.
func (j *JSONText) Scan(src any) error {
	raw, err := textOf(src)
	if err != nil {
		return err
	}
	*j = append((*j)[:0], raw...)
	return nil
}

func textOf(src any) ([]byte, error) {
	switch v := src.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	default:
		return nil, fmt.Errorf("cannot scan %T as JSON text", src)
	}
}
