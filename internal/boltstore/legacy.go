package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/latch-auth/latch/internal/auth"
)

var _ auth.LegacySource = (*Store)(nil)

// The buckets of the release before this one, which kept one bucket per
// record kind and judged codes itself. They are read once, by the engine's
// upgrade (auth.Upgrade), and then removed.
var (
	legacyChallenges   = []byte("challenges")
	legacyTokens       = []byte("tokens")
	legacySessions     = []byte("sessions")
	legacyUserSessions = []byte("user_sessions")
	legacyUsers        = []byte("users")
	legacyLimits       = []byte("limits")
	legacyExpiry       = []byte("expiry")
	legacyBuckets      = [][]byte{legacyChallenges, legacyTokens, legacySessions, legacyUserSessions, legacyUsers, legacyLimits, legacyExpiry}
)

// legacyChallenge is a challenge as the release before wrote it: the
// engine's struct of the time through encoding/json, field names as keys.
type legacyChallenge struct {
	ID                string
	Email             string
	Type              string
	Template          string
	State             string
	RedirectTo        string
	LinkURL           string
	CodeHash          []byte
	TokenHash         []byte
	BindingHash       []byte
	Attempts          int
	TemplateVariables map[string]string
	CreatedAt         time.Time
	SentAt            time.Time
	ExpiresAt         time.Time
}

type legacyUser struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
}

// Legacy reads what the release before left in the file, or nil when
// there is nothing (a new file, or one already upgraded).
func (s *Store) Legacy(context.Context) (*auth.LegacyData, error) {
	var data *auth.LegacyData
	err := s.db.View(func(tx *bolt.Tx) error {
		found := false
		for _, b := range legacyBuckets {
			found = found || tx.Bucket(b) != nil
		}
		if !found {
			return nil
		}
		data = &auth.LegacyData{}
		if b := tx.Bucket(legacyChallenges); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var c legacyChallenge
				if err := json.Unmarshal(v, &c); err != nil {
					return fmt.Errorf("challenge %q: %w", k, err)
				}
				data.Challenges = append(data.Challenges, &auth.Challenge{
					ID: c.ID, Email: c.Email, Type: auth.PasswordlessType(c.Type), Template: auth.Template(c.Template),
					State: c.State, RedirectTo: c.RedirectTo, LinkURL: c.LinkURL,
					CodeHash: c.CodeHash, TokenHash: c.TokenHash, BindingHash: c.BindingHash,
					Attempts: c.Attempts, TemplateVariables: c.TemplateVariables,
					CreatedAt: c.CreatedAt, SentAt: c.SentAt, ExpiresAt: c.ExpiresAt,
				})
				return nil
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket(legacySessions); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				sess, err := decodeLegacySession(v)
				if err != nil {
					return fmt.Errorf("session: %w", err)
				}
				sess.ID = string(k)
				data.Sessions = append(data.Sessions, sess)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket(legacyUsers); b != nil {
			return b.ForEach(func(k, v []byte) error {
				var u legacyUser
				if err := json.Unmarshal(v, &u); err != nil {
					return fmt.Errorf("user: %w", err)
				}
				data.Users = append(data.Users, auth.User{ID: u.ID, Email: string(k), CreatedAt: u.CreatedAt})
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: read the previous release's records: %w", err)
	}
	return data, nil
}

// DropLegacy removes the previous release's buckets, once their records
// live on in the new layout.
func (s *Store) DropLegacy(context.Context) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range legacyBuckets {
			if err := tx.DeleteBucket(b); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: drop the previous release's buckets: %w", err)
	}
	return nil
}
