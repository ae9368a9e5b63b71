package oidc

import (
	"context"
	"fmt"
	"strings"
)

// ForgetUser removes what the provider keeps of a user: the consents
// they gave, their authorization codes (used ones are kept a while to
// catch a replay) and their refresh-token families.
// auth.Config.OnUserDeleted runs it when the user is deleted.
func (p *Provider) ForgetUser(ctx context.Context, userID string) error {
	now := p.clock.Now()
	var keys []string
	if err := p.store.Scan(ctx, "oidcconsent:"+userID+":", now, func(key string, _ []byte) error {
		keys = append(keys, key)
		return nil
	}); err != nil {
		return fmt.Errorf("oidc: find consents: %w", err)
	}
	if err := p.store.Scan(ctx, "oidcrt:", now, func(key string, rec []byte) error {
		if f, err := decodeFamily(rec); err == nil && f.UserID == userID {
			keys = append(keys, key)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("oidc: find refresh tokens: %w", err)
	}
	if err := p.store.Scan(ctx, "oidccode:", now, func(key string, rec []byte) error {
		if g, err := decodeGrant(rec); err == nil && g.UserID == userID {
			keys = append(keys, key)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("oidc: find authorization codes: %w", err)
	}
	for _, k := range keys {
		if err := p.store.Delete(ctx, k); err != nil {
			return fmt.Errorf("oidc: delete %s: %w", strings.SplitN(k, ":", 2)[0], err)
		}
	}
	return nil
}
