package outbox

import (
	"context"
	"fmt"
	"testing"

	"github.com/latch-auth/latch/internal/mail"
)

func TestOutboxKeepsNewestAndIndexesByRecipient(t *testing.T) {
	o := New(nil, 3)
	for i := range 5 {
		to := "a@example.com"
		if i%2 == 1 {
			to = "B@example.com"
		}
		o.Send(context.Background(), &mail.Message{To: to, Subject: fmt.Sprint(i)})
	}
	all := o.Messages("")
	if len(all) != 3 || all[0].Subject != "2" || all[2].Subject != "4" {
		t.Fatalf("kept %v, want subjects 2,3,4", subjects(all))
	}
	if got := subjects(o.Messages("a@example.com")); fmt.Sprint(got) != "[2 4]" {
		t.Fatalf("a's messages %v, want [2 4]", got)
	}
	if got := subjects(o.Messages("b@EXAMPLE.com")); fmt.Sprint(got) != "[3]" {
		t.Fatalf("b's messages %v, want [3] (recipient match ignores case)", got)
	}
}

func subjects(ms []*mail.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject)
	}
	return out
}
