package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latch-auth/latch/internal/admin"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/events"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/metrics"
)

// webhookQueueName names the webhook queue beside the mail queue: bbolt
// buckets hookq_* in mailqueue.db, Redis keys <prefix>{hookq}:*.
const webhookQueueName = "hookq"

// buildWebhooks wires the webhook queue (an auditor of the engine) and
// its worker over store, or returns nil when WEBHOOK_URL is not set.
func buildWebhooks(cfg *Config, a *app, secret string, store mailqueue.Store, m *metrics.Metrics, log *slog.Logger) (*events.Queue, error) {
	if cfg.WebhookURL == "" {
		return nil, nil
	}
	var previous [][]byte
	if cfg.SessionSecretPrevious != "" {
		previous = append(previous, events.KeyFromSecret(cfg.SessionSecretPrevious))
	}
	var q *events.Queue
	wm := m.ObserveWebhooks(func(ctx context.Context) (int, int, error) {
		st, err := q.Stats(ctx)
		return st.Queued, st.DeadLetters, err
	})
	count := func(outcome string) func() { return func() { wm.Count(outcome) } }
	q, err := events.New(store, events.Options{
		Key:          events.KeyFromSecret(secret),
		PreviousKeys: previous,
		Logger:       log,
		Observer: events.Observer{
			Queued: count("queued"), Sent: count("sent"), Retried: count("retried"),
			DeadLettered: count("dead_lettered"), Replayed: count("replayed"), Attempted: wm.Attempted,
		},
	})
	if err != nil {
		return nil, err
	}
	w, err := events.NewWorker(q, events.WorkerOptions{
		URL:         cfg.WebhookURL,
		Secret:      cfg.webhookSecret,
		Timeout:     cfg.WebhookTimeout,
		Concurrency: cfg.WebhookWorkers,
		MaxAttempts: cfg.WebhookRetryMaxAttempts,
		BaseDelay:   cfg.WebhookRetryBaseDelay,
		MaxDelay:    cfg.WebhookRetryMaxDelay,
	})
	if err != nil {
		return nil, err
	}
	w.Start()
	// Closers run last-first: the worker stops before the store closes.
	a.closers = append(a.closers, w.Close)
	return q, nil
}

// failedJSON is a dead letter as the events commands print it.
type failedJSON = events.Failed

// eventArgs are the arguments of events.replay.
type eventArgs struct {
	ID string `json:"id"`
}

// errWebhooksOff answers the events commands of a server without webhooks.
var errWebhooksOff = auth.Errorf(auth.CodeNotFound, "webhooks are off on this Latch (WEBHOOK_URL is not set)")

// eventCommands are the control socket's handlers for webhook events:
// events.failed lists the dead letters (args none; result a JSON array of
// {id, type, attempts, lastError, failedAt, replayable}, newest first),
// events.replay queues one again (args {"id"}; result {"id","replayed"}).
// q is nil when webhooks are off.
func eventCommands(q *events.Queue) map[string]admin.Handler {
	return map[string]admin.Handler{
		"events.failed": func(ctx context.Context, raw json.RawMessage) (any, error) {
			if err := admin.DecodeArgs(raw, &struct{}{}); err != nil {
				return nil, err
			}
			if q == nil {
				return nil, errWebhooksOff
			}
			return q.Failed(ctx, mailqueue.MaxDeadLetters)
		},
		"events.replay": func(ctx context.Context, raw json.RawMessage) (any, error) {
			if q == nil {
				return nil, errWebhooksOff
			}
			var a eventArgs
			if err := admin.DecodeArgs(raw, &a); err != nil {
				return nil, err
			}
			if a.ID == "" {
				return nil, auth.FieldError("id", `is required (events.replay takes {"id": "msg_…"})`)
			}
			err := q.Replay(ctx, a.ID)
			if errors.Is(err, events.ErrNotFound) {
				return nil, auth.Errorf(auth.CodeNotFound, "no failed event has the id %s (latch events failed lists them)", a.ID)
			}
			if err != nil {
				return nil, err
			}
			return map[string]any{"id": a.ID, "replayed": true}, nil
		},
	}
}

const eventsHelp = `latch events failed [--json]   webhook events given up on (newest first)
latch events replay ID         send one of them again, with the same webhook-id

Works against the Latch running on this machine with the same DATA_DIR,
through its control socket (DATA_DIR/latch.sock), or a remote one:` + remoteHelp

// eventsCommand runs `latch events failed|replay`.
func eventsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	args, o, err := adminFlags(args)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	asJSON := o.json
	switch {
	case len(args) == 1 && args[0] == "failed":
		list := []failedJSON{}
		if err := callAdmin(ctx, getenv, o, "events.failed", nil, &list); err != nil {
			return err
		}
		if asJSON {
			return writeJSONDoc(stdout, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no failed webhook events")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tATTEMPTS\tFAILED\tLAST ERROR")
		for _, f := range list {
			typ := string(f.Type)
			if !f.Replayable {
				typ = "(unreadable)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.ID, typ, f.Attempts, f.FailedAt.Format(time.RFC3339), oneLine(f.LastError, 80))
		}
		return tw.Flush()
	case len(args) == 2 && args[0] == "replay":
		var r map[string]any
		if err := callAdmin(ctx, getenv, o, "events.replay", eventArgs{ID: args[1]}, &r); err != nil {
			return err
		}
		if asJSON {
			return writeJSONDoc(stdout, r)
		}
		fmt.Fprintf(stdout, "queued %s again: it is posted now, with the same webhook-id\n", args[1])
		return nil
	}
	return exitError{code: 2, err: errors.New("usage: latch events failed [--json] | latch events replay ID")}
}

// oneLine shortens s to at most n runes on one line.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
