package adminapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestRouteTable: every row is a well-formed pattern under /api/admin/,
// names a command once, and mounts on a ServeMux without a conflict.
func TestRouteTable(t *testing.T) {
	seen := map[string]bool{}
	mux := http.NewServeMux()
	for _, rt := range Routes {
		if !strings.HasPrefix(rt.Path(), "/api/admin/") || rt.Method() == "" || !strings.Contains(rt.Command, ".") {
			t.Errorf("malformed row %+v", rt)
		}
		if seen[rt.Command] {
			t.Errorf("%s has two rows", rt.Command)
		}
		seen[rt.Command] = true
		if rt.Limits != guarded {
			t.Errorf("%s is not behind the admin limits", rt.Pattern)
		}
		mux.Handle(rt.Pattern, http.NotFoundHandler()) // panics on a conflict
	}
}

func TestPathValues(t *testing.T) {
	rt, _ := RouteOf("users.groups")
	got, err := rt.pathValues("/api/admin/users/ada%40example.com/groups")
	if err != nil || got["user"] != "ada@example.com" || len(got) != 1 {
		t.Fatalf("pathValues = %v, %v", got, err)
	}
	if _, err := rt.pathValues("/api/admin/users/%zz/groups"); err == nil {
		t.Error("a malformed escape was accepted")
	}
}
