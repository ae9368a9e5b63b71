package admin

import (
	"context"
	"encoding/json"

	"github.com/latch-auth/latch/internal/auth"
)

// EventAction is the audit event of every admin command, whichever
// transport ran it: Method names the command, Reason the error code of
// a command that failed, and the actor comes with the context (Actor).
const EventAction auth.EventKind = "admin_action"

// Operator is the actor of commands that arrive on the control socket:
// the machine's operator, the only peer the socket answers.
const Operator = "operator"

type actorKey struct{}

// WithActor returns ctx naming who runs the commands done under it: an
// admin client ("client:ID") or the Operator.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor names who acts under ctx, or "" outside an admin command. The
// audit log records it with every event, the engine's included.
func Actor(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// Audited wraps every handler so that each command run is audited
// (EventAction) with its actor and outcome, once, whichever transport
// calls it.
func Audited(handlers map[string]Handler, auditor auth.Auditor) map[string]Handler {
	out := make(map[string]Handler, len(handlers))
	for name, h := range handlers {
		out[name] = func(ctx context.Context, args json.RawMessage) (any, error) {
			res, err := h(ctx, args)
			e := auth.Event{Kind: EventAction, Method: name}
			if err != nil {
				e.Reason = auth.ErrorCode(err)
			}
			auditor.Audit(ctx, e)
			return res, err
		}
	}
	return out
}
