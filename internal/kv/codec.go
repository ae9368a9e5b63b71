package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrCorrupt is returned by Reader when a record does not decode.
var ErrCorrupt = errors.New("kv: corrupt record")

// Writer builds a record encoding: a version byte, then fields in a fixed
// order. Record kinds write their own codecs with it, so that renaming a
// Go field never changes what is on disk.
type Writer struct{ b []byte }

// NewWriter starts a record of the given encoding version.
func NewWriter(version byte) *Writer { return &Writer{b: []byte{version}} }

// Bytes returns the encoded record.
func (w *Writer) Bytes() []byte { return w.b }

// String appends a length-prefixed string.
func (w *Writer) String(s string) *Writer {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
	return w
}

// Blob appends length-prefixed bytes.
func (w *Writer) Blob(p []byte) *Writer {
	w.b = binary.AppendUvarint(w.b, uint64(len(p)))
	w.b = append(w.b, p...)
	return w
}

// Int appends a signed integer.
func (w *Writer) Int(n int64) *Writer { w.b = binary.AppendVarint(w.b, n); return w }

// Bool appends a boolean.
func (w *Writer) Bool(v bool) *Writer {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
	return w
}

// Time appends t in Unix microseconds; the zero time stays zero.
func (w *Writer) Time(t time.Time) *Writer { return w.Int(Micros(t)) }

// Strings appends a counted list of strings.
func (w *Writer) Strings(list []string) *Writer {
	w.b = binary.AppendUvarint(w.b, uint64(len(list)))
	for _, s := range list {
		w.String(s)
	}
	return w
}

// Reader decodes what a Writer wrote. The first failure sticks: later
// calls return zero values and Err reports it, so codecs read every field
// and check once.
type Reader struct {
	b       []byte
	version byte
	err     error
}

// NewReader starts reading a record and returns its version byte.
func NewReader(rec []byte) (*Reader, byte) {
	r := &Reader{b: rec}
	if len(rec) == 0 {
		r.err = ErrCorrupt
		return r, 0
	}
	r.version, r.b = rec[0], rec[1:]
	return r, r.version
}

func (r *Reader) fail() {
	if r.err == nil {
		r.err = ErrCorrupt
	}
	r.b = nil
}

func (r *Reader) uvarint() uint64 {
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *Reader) raw() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// String reads a string.
func (r *Reader) String() string { return string(r.raw()) }

// Blob reads bytes; nil when empty.
func (r *Reader) Blob() []byte {
	p := r.raw()
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

// Int reads a signed integer.
func (r *Reader) Int() int64 {
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return n
}

// Bool reads a boolean.
func (r *Reader) Bool() bool {
	if len(r.b) == 0 {
		r.fail()
		return false
	}
	v := r.b[0]
	r.b = r.b[1:]
	if v > 1 {
		r.fail()
	}
	return v == 1
}

// Time reads a time written by Writer.Time.
func (r *Reader) Time() time.Time { return FromMicros(r.Int()) }

// Strings reads a counted list of strings.
func (r *Reader) Strings() []string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.String())
	}
	return out
}

// More reports whether unread bytes remain: fields a later encoding
// version appended.
func (r *Reader) More() bool { return r.err == nil && len(r.b) > 0 }

// Err reports the first failure, or unread bytes left over when the
// record should have ended (call it after the last field).
func (r *Reader) Err(kind string) error {
	if r.err == nil && len(r.b) > 0 {
		r.err = ErrCorrupt
	}
	if r.err != nil {
		return fmt.Errorf("%s record v%d: %w", kind, r.version, r.err)
	}
	return nil
}

// Micros is t in Unix microseconds, 0 for the zero time.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros is the inverse of Micros.
func FromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n)
}
