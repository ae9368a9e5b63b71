package redisstore_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/redisstore"
)

func TestParseURL(t *testing.T) {
	type want struct {
		addrs              []string
		db                 int
		user, pass         string
		master             string
		sentUser, sentPass string
		cluster, tls, skip bool
		pool, minIdle      int
		dial, read, write  time.Duration
		poolWait           time.Duration
		clientName         string
	}
	tests := []struct {
		name string
		url  string
		want want
	}{
		{"standalone", "redis://127.0.0.1:6379/0", want{addrs: []string{"127.0.0.1:6379"}}},
		{"default port and db", "redis://cache.internal", want{addrs: []string{"cache.internal:6379"}}},
		{"no host", "redis://", want{addrs: []string{"localhost:6379"}}},
		{"database in path", "redis://h:6380/3", want{addrs: []string{"h:6380"}, db: 3}},
		{"database in query", "redis://h?db=4", want{addrs: []string{"h:6379"}, db: 4}},
		{"user and password", "redis://app:s3cret@h:6379/1", want{addrs: []string{"h:6379"}, db: 1, user: "app", pass: "s3cret"}},
		{"password only", "redis://:s3cret@h", want{addrs: []string{"h:6379"}, pass: "s3cret"}},
		{"escaped password", "redis://:p%40ss%3Aw%2Fd@h", want{addrs: []string{"h:6379"}, pass: "p@ss:w/d"}},
		{"IPv6", "redis://[::1]:7000", want{addrs: []string{"[::1]:7000"}}},
		{"IPv6 default port", "redis://[::1]", want{addrs: []string{"[::1]:6379"}}},
		{"TLS", "rediss://h:6380", want{addrs: []string{"h:6380"}, tls: true}},
		{"TLS without verification", "rediss://h?skip_verify=true", want{addrs: []string{"h:6379"}, tls: true, skip: true}},
		{"unix socket", "unix:///run/redis.sock?db=2", want{addrs: []string{"/run/redis.sock"}, db: 2}},
		{"unix socket with password", "unix://:pw@/run/redis.sock", want{addrs: []string{"/run/redis.sock"}, pass: "pw"}},
		{"options", "redis://h?pool_size=20&min_idle_conns=2&dial_timeout=3s&read_timeout=250ms&write_timeout=2&pool_timeout=1500ms&client_name=latch",
			want{addrs: []string{"h:6379"}, pool: 20, minIdle: 2, dial: 3 * time.Second, read: 250 * time.Millisecond, write: 2 * time.Second, poolWait: 1500 * time.Millisecond, clientName: "latch"}},
		{"sentinel", "redis-sentinel://:s3cret@s1:26379,s2,s3:26380/mymaster?db=1",
			want{addrs: []string{"s1:26379", "s2:26379", "s3:26380"}, master: "mymaster", pass: "s3cret", db: 1}},
		{"sentinel credentials", "redis-sentinel://s1/mymaster?sentinel_username=sen&sentinel_password=tinel",
			want{addrs: []string{"s1:26379"}, master: "mymaster", sentUser: "sen", sentPass: "tinel"}},
		{"sentinel TLS", "rediss-sentinel://s1,s2/main", want{addrs: []string{"s1:26379", "s2:26379"}, master: "main", tls: true}},
		{"cluster", "redis-cluster://n1:7000,n2:7001,n3:7002", want{addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, cluster: true}},
		{"cluster one seed", "redis-cluster://u:p@n1/", want{addrs: []string{"n1:6379"}, cluster: true, user: "u", pass: "p"}},
		{"cluster TLS", "rediss-cluster://n1:7000,n2:7000", want{addrs: []string{"n1:7000", "n2:7000"}, cluster: true, tls: true}},
		{"scheme case", "REDIS://h", want{addrs: []string{"h:6379"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := redisstore.ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			got := want{
				addrs: o.Addrs, db: o.DB, user: o.Username, pass: o.Password, master: o.MasterName,
				sentUser: o.SentinelUsername, sentPass: o.SentinelPassword, cluster: o.IsClusterMode,
				tls: o.TLSConfig != nil, skip: o.TLSConfig != nil && o.TLSConfig.InsecureSkipVerify,
				pool: o.PoolSize, minIdle: o.MinIdleConns, dial: o.DialTimeout, read: o.ReadTimeout,
				write: o.WriteTimeout, poolWait: o.PoolTimeout, clientName: o.ClientName,
			}
			if !slices.Equal(got.addrs, tt.want.addrs) {
				t.Errorf("addrs %q, want %q", got.addrs, tt.want.addrs)
			}
			got.addrs, tt.want.addrs = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"empty", "", "must start with"},
		{"no scheme", "127.0.0.1:6379", "must start with"},
		{"unknown scheme", "http://h", `scheme "http"`},
		{"bad port", "redis://:s3cret@h:port", "port"},
		{"port out of range", "redis://:s3cret@h:70000", "port"},
		{"bare IPv6", "redis://::1:6379", "brackets"},
		{"two hosts standalone", "redis://:s3cret@a,b", "one host"},
		{"empty host in list", "redis-cluster://a,,b", "empty host"},
		{"bad database", "redis://:s3cret@h/x", "database"},
		{"negative database", "redis://h/-1", "database"},
		{"nested path", "redis://h/0/1", "database"},
		{"database twice", "redis://h/1?db=2", "already in the path"},
		{"unknown option", "redis://:s3cret@h?max_retries=3", `unknown option "max_retries"`},
		{"repeated option", "redis://h?pool_size=1&pool_size=2", "given 2 times"},
		{"bad pool size", "redis://h?pool_size=-1", "pool_size"},
		{"bad duration", "redis://h?read_timeout=soon", "read_timeout"},
		{"zero duration", "redis://h?dial_timeout=0", "not positive"},
		{"skip_verify without TLS", "redis://h?skip_verify=true", "needs TLS"},
		{"sentinel option outside sentinel", "redis://h?sentinel_password=x", "needs redis-sentinel"},
		{"sentinel without master", "redis-sentinel://:s3cret@s1,s2", "master name"},
		{"sentinel without hosts", "redis-sentinel:///mymaster", "at least one host"},
		{"cluster with database", "redis-cluster://n1/1", "no path"},
		{"cluster with db option", "redis-cluster://n1?db=1", "database 0 only"},
		{"cluster without hosts", "redis-cluster://", "at least one host"},
		{"unix without path", "unix://", "socket path"},
		{"unix with host", "unix://h/run/redis.sock", "socket path, not a host"},
		{"fragment", "redis://:s3cret@h#x", "fragment"},
		{"bad escape", "redis://:s3cret%zz@h", "percent-encoding"},
		{"raw slash in password", "redis://:s3/cret@h", "percent-encode"},
		{"raw question mark in password", "redis://u:s3?cret@h", "percent-encode"},
		{"raw hash in password", "redis://:s3#cret@h/0", "percent-encode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := redisstore.ParseURL(tt.url)
			if err == nil {
				t.Fatalf("ParseURL(%q) succeeded; want an error containing %q", tt.url, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseURL(%q) = %v; want an error containing %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error quotes the password: %v", err)
			}
		})
	}
}

// TestNew checks, without Redis, which client New builds and that Options
// win over the URL and defaults fill the rest.
func TestNew(t *testing.T) {
	s, err := redisstore.New(redisstore.Options{
		URL:      "redis://127.0.0.1:1/2?pool_size=5&read_timeout=3s&dial_timeout=4s",
		PoolSize: 7,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	if s.Prefix() != redisstore.DefaultKeyPrefix {
		t.Errorf("Prefix() = %q, want %q", s.Prefix(), redisstore.DefaultKeyPrefix)
	}
	c, ok := s.Client().(*redis.Client)
	if !ok {
		t.Fatalf("client is %T, want *redis.Client", s.Client())
	}
	o := c.Options()
	if o.DB != 2 || o.PoolSize != 7 || o.ReadTimeout != 3*time.Second || o.DialTimeout != 4*time.Second ||
		o.WriteTimeout != redisstore.DefaultWriteTimeout || o.PoolTimeout != redisstore.DefaultPoolTimeout ||
		o.MaxRetries != 0 || !o.ContextTimeoutEnabled {
		t.Errorf("options: db %d pool %d read %s dial %s write %s pool wait %s retries %d context timeouts %t",
			o.DB, o.PoolSize, o.ReadTimeout, o.DialTimeout, o.WriteTimeout, o.PoolTimeout, o.MaxRetries, o.ContextTimeoutEnabled)
	}

	cs, err := redisstore.New(redisstore.Options{URL: "redis-cluster://127.0.0.1:1", KeyPrefix: "x:", ReadTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New(cluster): %v", err)
	}
	defer cs.Close()
	cc, ok := cs.Client().(*redis.ClusterClient)
	if !ok {
		t.Fatalf("cluster client is %T, want *redis.ClusterClient", cs.Client())
	}
	if o := cc.Options(); o.ReadTimeout != 5*time.Second || o.DialTimeout != redisstore.DefaultDialTimeout || cs.Prefix() != "x:" {
		t.Errorf("cluster options: read %s dial %s prefix %q", o.ReadTimeout, o.DialTimeout, cs.Prefix())
	}

	ss, err := redisstore.New(redisstore.Options{URL: "redis-sentinel://127.0.0.1:1/mymaster"})
	if err != nil {
		t.Fatalf("New(sentinel): %v", err)
	}
	defer ss.Close()
	if _, ok := ss.Client().(*redis.Client); !ok {
		t.Fatalf("sentinel client is %T, want a failover *redis.Client", ss.Client())
	}
}

func TestOptionsValidate(t *testing.T) {
	err := redisstore.Options{URL: "http://h", PoolSize: -1, ReadTimeout: -time.Second}.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad options")
	}
	for _, want := range []string{"scheme", "pool size", "read timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to mention %q", err, want)
		}
	}
	if err := (redisstore.Options{}).Validate(); err == nil || !strings.Contains(err.Error(), "URL is required") {
		t.Errorf("Validate() without URL = %v", err)
	}
	if _, err := redisstore.New(redisstore.Options{URL: "redis://h?bogus=1"}); err == nil {
		t.Error("New accepted a bad URL")
	}
}
