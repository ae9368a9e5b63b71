package scalekit

// The protobuf code under gen/ is generated from proto/ and committed.
// Regenerate with `go generate ./internal/scalekit` (needs protoc, Debian's
// protobuf-compiler 3.21.12 or newer; the Go plugins are pinned by go.mod's
// tool directives: protoc-gen-go v1.36.12, protoc-gen-connect-go v1.21.1).
//go:generate sh -c "protoc -I proto --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-connect-go=$(go tool -n protoc-gen-connect-go) --go_out=. --go_opt=module=github.com/latch-auth/latch/internal/scalekit --connect-go_out=. --connect-go_opt=module=github.com/latch-auth/latch/internal/scalekit scalekit/v1/auth/passwordless.proto scalekit/v1/errdetails/errdetails.proto"
