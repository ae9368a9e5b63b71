package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// record is a queued event as sealed in its job's payload: its type, for
// listings, and the body exactly as it is sent on every attempt.
type record struct {
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body"`
}

// recordV1 is the first byte of an encoded record; the JSON of record
// follows.
const recordV1 = 1

func encodeRecord(r record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append([]byte{recordV1}, b...), nil
}

func decodeRecord(b []byte) (*record, error) {
	if len(b) == 0 {
		return nil, errors.New("events: empty record")
	}
	if b[0] != recordV1 {
		return nil, fmt.Errorf("events: record version %d is not %d", b[0], recordV1)
	}
	var r record
	if err := json.Unmarshal(b[1:], &r); err != nil {
		return nil, fmt.Errorf("events: decode record: %w", err)
	}
	if r.Type == "" || !json.Valid(r.Body) {
		return nil, errors.New("events: a record without its type or body")
	}
	return &r, nil
}
