package scalekit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/latch-auth/latch/internal/scalekit/gen/errdetailspb"
	pb "github.com/latch-auth/latch/internal/scalekit/gen/passwordlesspb"
	"github.com/latch-auth/latch/internal/scalekit/gen/passwordlesspb/passwordlesspbconnect"
)

// bearerClient returns a generated client that sends token (if any).
func (f *fixture) rpcClient(token string, opts ...connect.ClientOption) passwordlesspbconnect.PasswordlessServiceClient {
	opts = append(opts, connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	})))
	return passwordlesspbconnect.NewPasswordlessServiceClient(h2cClient(), f.srv.URL, opts...)
}

func errorInfo(t *testing.T, err error) string {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a connect error: %v", err)
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*errdetailspb.ErrorInfo); ok {
				return info.GetErrorCode()
			}
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
	return ""
}

func TestRPCProtocols(t *testing.T) {
	protocols := []struct {
		name string
		opts []connect.ClientOption
	}{
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
		{"connect", nil},
		{"connect-json", []connect.ClientOption{connect.WithProtoJSON()}},
	}
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			ctx := context.Background()
			email := proto.name + "@example.com"
			uri := testLinkURI

			// The Node SDK's first call carries no token and expects
			// Unauthenticated before it fetches one.
			_, err := f.rpcClient("", proto.opts...).SendPasswordlessEmail(ctx, connect.NewRequest(&pb.SendPasswordlessRequest{Email: email, MagiclinkAuthUri: &uri}))
			if connect.CodeOf(err) != connect.CodeUnauthenticated || errorInfo(t, err) != "UNAUTHENTICATED" {
				t.Fatalf("no token: %v", err)
			}
			_, err = f.rpcClient("bogus", proto.opts...).SendPasswordlessEmail(ctx, connect.NewRequest(&pb.SendPasswordlessRequest{Email: email, MagiclinkAuthUri: &uri}))
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("bad token: %v", err)
			}

			c := f.rpcClient(f.mustToken(t), proto.opts...)
			state := "st-" + proto.name
			exp, locale := uint32(600), "de"
			sent, err := c.SendPasswordlessEmail(ctx, connect.NewRequest(&pb.SendPasswordlessRequest{
				Email: email, MagiclinkAuthUri: &uri, State: &state, ExpiresIn: &exp, Locale: &locale,
				TemplateVariables: map[string]string{"team": "Acme"},
			}))
			if err != nil {
				t.Fatal(err)
			}
			id := sent.Msg.GetAuthRequestId()
			if id == "" || sent.Msg.GetExpiresIn() != 600 || sent.Msg.GetPasswordlessType() != pb.PasswordlessType_LINK_OTP ||
				sent.Msg.GetExpiresAt() != f.clock.Now().Add(600*time.Second).Unix() {
				t.Fatalf("send: %v", sent.Msg)
			}
			if m := f.mail.last(t, email); m.TemplateVariables["team"] != "Acme" || m.Locale != "de" {
				t.Fatalf("template variables %v, locale %q", m.TemplateVariables, m.Locale)
			}

			_, err = c.SendPasswordlessEmail(ctx, connect.NewRequest(&pb.SendPasswordlessRequest{Email: email}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "magiclink_auth_uri is required") {
				t.Fatalf("no uri: %v", err)
			}

			code := f.mail.last(t, email).Code
			wrong := "000000"
			if code == wrong {
				wrong = "999999"
			}
			_, err = c.VerifyPasswordlessEmail(ctx, connect.NewRequest(&pb.VerifyPasswordLessRequest{AuthCredential: &pb.VerifyPasswordLessRequest_Code{Code: wrong}, AuthRequestId: &id}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "invalid") || errorInfo(t, err) != "INVALID_CODE" {
				t.Fatalf("wrong code: %v", err)
			}
			_, err = c.VerifyPasswordlessEmail(ctx, connect.NewRequest(&pb.VerifyPasswordLessRequest{AuthCredential: &pb.VerifyPasswordLessRequest_Code{Code: code}}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "auth_request_id is required") {
				t.Fatalf("no id: %v", err)
			}

			// As at Scalekit, a resend may follow at once: no cooldown, two
			// mails a minute per address counting sends and resends.
			resent, err := c.ResendPasswordlessEmail(ctx, connect.NewRequest(&pb.ResendPasswordlessRequest{AuthRequestId: id}))
			if err != nil || resent.Msg.GetAuthRequestId() != id {
				t.Fatalf("resend: %v %v", resent, err)
			}
			_, err = c.ResendPasswordlessEmail(ctx, connect.NewRequest(&pb.ResendPasswordlessRequest{AuthRequestId: id}))
			if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "rate") {
				t.Fatalf("a third mail in a minute: %v", err)
			}
			newCode := f.mail.last(t, email).Code
			if newCode != code {
				_, err = c.VerifyPasswordlessEmail(ctx, connect.NewRequest(&pb.VerifyPasswordLessRequest{AuthCredential: &pb.VerifyPasswordLessRequest_Code{Code: code}, AuthRequestId: &id}))
				if connect.CodeOf(err) != connect.CodeInvalidArgument {
					t.Fatalf("old code after resend: %v", err)
				}
			}
			ok, err := c.VerifyPasswordlessEmail(ctx, connect.NewRequest(&pb.VerifyPasswordLessRequest{AuthCredential: &pb.VerifyPasswordLessRequest_Code{Code: newCode}, AuthRequestId: &id}))
			if err != nil || ok.Msg.GetEmail() != email || ok.Msg.GetState() != state || ok.Msg.GetTemplate() != pb.TemplateType_SIGNIN {
				t.Fatalf("right code: %v %v", ok, err)
			}
			_, err = c.VerifyPasswordlessEmail(ctx, connect.NewRequest(&pb.VerifyPasswordLessRequest{AuthCredential: &pb.VerifyPasswordLessRequest_Code{Code: newCode}, AuthRequestId: &id}))
			if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "auth request expired") {
				t.Fatalf("reuse: %v", err)
			}

			// A magic link, verified by its token alone.
			f.clock.Advance(time.Minute)
			linkEmail := "link-" + email
			if _, err := c.SendPasswordlessEmail(ctx, connect.NewRequest(&pb.SendPasswordlessRequest{Email: linkEmail, MagiclinkAuthUri: &uri, State: &state})); err != nil {
				t.Fatal(err)
			}
			lt, _ := linkToken(t, f.mail.last(t, linkEmail))
			ok, err = c.VerifyPasswordlessEmail(ctx, connect.NewRequest(&pb.VerifyPasswordLessRequest{AuthCredential: &pb.VerifyPasswordLessRequest_LinkToken{LinkToken: lt}}))
			if err != nil || ok.Msg.GetEmail() != linkEmail || ok.Msg.GetState() != state {
				t.Fatalf("link: %v %v", ok, err)
			}
		})
	}
}
