package auth

import (
	"context"
	"fmt"
)

// MaxLocaleLength caps a stored language tag.
const MaxLocaleLength = 35

// mailLocale is the language of a new sign-in mail: the request's own
// choice (ui_locales, a locale field), else the user's stored choice, else
// the requesting browser's language. Resends keep the challenge's.
func mailLocale(req SendRequest, stored string) string {
	for _, l := range []string{req.Locale, stored, req.FallbackLocale} {
		if l != "" && len(l) <= MaxLocaleLength {
			return l
		}
	}
	return ""
}

// UserLocale is the language the user chose ("" for none).
func (s *Service) UserLocale(ctx context.Context, id string) (string, error) {
	u, err := s.User(ctx, id)
	if err != nil {
		return "", storeError("read user", err)
	}
	return u.Locale, nil
}

// SetUserLocale stores the language a user chose (a tag the transport has
// checked against the languages Latch has; "" forgets the choice). It
// decides the language of the user's mails when a request names none.
func (s *Service) SetUserLocale(ctx context.Context, id, locale string) error {
	if len(locale) > MaxLocaleLength {
		return FieldError("locale", fmt.Sprintf("must be at most %d characters", MaxLocaleLength))
	}
	u, err := s.updateUser(ctx, id, func(u *User) error { u.Locale = locale; return nil })
	if err != nil {
		return err
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventUserUpdated, Email: u.Email, UserID: id, Changed: "locale"})
	return nil
}
