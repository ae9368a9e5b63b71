package mailqueue

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/mail"
)

func TestBackoff(t *testing.T) {
	const base, maxDelay = 2 * time.Second, 5 * time.Minute
	for _, c := range []struct {
		attempt int
		ceiling time.Duration
	}{
		{0, 2 * time.Second},
		{1, 2 * time.Second},
		{2, 4 * time.Second},
		{3, 8 * time.Second},
		{8, 256 * time.Second},
		{9, maxDelay},
		{1000, maxDelay},
	} {
		for range 200 {
			got := Backoff(c.attempt, base, maxDelay)
			if got < c.ceiling/2 || got > c.ceiling {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", c.attempt, got, c.ceiling/2, c.ceiling)
			}
		}
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[Backoff(3, base, maxDelay)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("Backoff has little jitter: %d distinct values in 50", len(seen))
	}
}

func TestSealer(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	old, err := newSealer(k1, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed := old.seal("job1", []byte("the code is 123456"))
	if bytes.Contains(sealed, []byte("123456")) {
		t.Fatal("sealed payload shows the plaintext")
	}
	rotated, err := newSealer(k2, [][]byte{k1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		s      *sealer
		id     string
		sealed []byte
		ok     bool
	}{
		{"same key", old, "job1", sealed, true},
		{"previous key after rotation", rotated, "job1", sealed, true},
		{"other job's id", old, "job2", sealed, false},
		{"tampered", old, "job1", append(append([]byte(nil), sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), false},
		{"unknown version", old, "job1", append([]byte{9}, sealed[1:]...), false},
		{"truncated", old, "job1", sealed[:5], false},
		{"empty", old, "job1", nil, false},
	} {
		plain, err := c.s.open(c.id, c.sealed)
		if c.ok && (err != nil || string(plain) != "the code is 123456") {
			t.Errorf("%s: open = %q, %v", c.name, plain, err)
		}
		if !c.ok && !errors.Is(err, errUnsealable) {
			t.Errorf("%s: open = %q, %v; want errUnsealable", c.name, plain, err)
		}
	}
	if newFresh, _ := newSealer(k2, nil); newFresh != nil {
		if _, err := newFresh.open("job1", sealed); err == nil {
			t.Error("a payload opened under a key it was not sealed with")
		}
	}
	if _, err := newSealer([]byte("short"), nil); err == nil {
		t.Error("newSealer accepted a short key")
	}
}

func TestMaskAddressKeepsTheCauseButHidesTheRecipient(t *testing.T) {
	cause := mail.MarkPermanent(errors.New("550 5.1.1 <Ada@Example.com>: user unknown"))
	err := maskAddress(cause, "ada@example.com")
	if strings.Contains(strings.ToLower(err.Error()), "ada@example.com") || !strings.Contains(err.Error(), "a***@example.com") {
		t.Fatalf("masked error %q", err)
	}
	if !mail.Permanent(err) {
		t.Fatal("masking lost the permanent mark")
	}
	if got := maskAddress(nil, "ada@example.com"); got != nil {
		t.Fatalf("maskAddress(nil) = %v", got)
	}
}
