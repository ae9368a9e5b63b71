package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix starts every key when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "latch:"

// The defaults of the connection settings. They are short on purpose: a
// login request should fail fast with 503 rather than hang on a sick Redis.
const (
	DefaultDialTimeout  = 2 * time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
	// DefaultPoolTimeout is longer: it is spent only when every pooled
	// connection is busy, which under a burst of sign-ins (a room pressing
	// "send" at once) is load, not sickness, and a short wait beats a 503.
	// A sick Redis is caught by the read and write timeouts.
	DefaultPoolTimeout = 3 * time.Second
	// MinDefaultPoolSize is the fewest connections per node by default
	// (go-redis's own default, 10 per CPU, when that is more): on a small
	// machine 10 per CPU queued a burst's commands behind a pool of 20.
	MinDefaultPoolSize = 64
)

// Options configures a Store. A zero field takes the value the URL's query
// gives it (see the package doc), else the default named beside it: fields
// set here are explicit configuration (REDIS_POOL_SIZE, REDIS_TIMEOUT) and
// win over the URL.
type Options struct {
	// URL says where Redis is (REDIS_URL); the package doc lists the forms.
	URL string
	// KeyPrefix starts every key (DefaultKeyPrefix). Replicas that share
	// state must share it; deployments that share a Redis must not.
	KeyPrefix string
	// PoolSize is the most connections per Redis node (REDIS_POOL_SIZE;
	// default 10 per CPU, as go-redis, and at least MinDefaultPoolSize).
	PoolSize int
	// MinIdleConns is how many connections stay open while idle (0).
	MinIdleConns int
	// DialTimeout bounds opening one connection (DefaultDialTimeout).
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound each command on the socket
	// (REDIS_TIMEOUT sets both; DefaultReadTimeout, DefaultWriteTimeout).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolTimeout bounds the wait for a free connection when all are busy
	// (DefaultPoolTimeout).
	PoolTimeout time.Duration
}

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("redisstore: URL is required"))
	} else if _, err := ParseURL(o.URL); err != nil {
		errs = append(errs, err)
	}
	if o.PoolSize < 0 {
		errs = append(errs, fmt.Errorf("redisstore: pool size %d is negative", o.PoolSize))
	}
	if o.MinIdleConns < 0 {
		errs = append(errs, fmt.Errorf("redisstore: min idle connections %d is negative", o.MinIdleConns))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial timeout", o.DialTimeout}, {"read timeout", o.ReadTimeout}, {"write timeout", o.WriteTimeout}, {"pool timeout", o.PoolTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("redisstore: %s %s is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// universal returns the client options of o: the URL's, then o's fields,
// then the defaults, then the settings every Store needs.
func (o Options) universal() (*redis.UniversalOptions, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	u, _ := ParseURL(o.URL) // checked by Validate
	set := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setDur := func(dst *time.Duration, v, def time.Duration) {
		switch {
		case v != 0:
			*dst = v
		case *dst == 0:
			*dst = def
		}
	}
	set(&u.PoolSize, o.PoolSize)
	if u.PoolSize == 0 {
		u.PoolSize = max(MinDefaultPoolSize, 10*runtime.GOMAXPROCS(0))
	}
	set(&u.MinIdleConns, o.MinIdleConns)
	setDur(&u.DialTimeout, o.DialTimeout, DefaultDialTimeout)
	setDur(&u.ReadTimeout, o.ReadTimeout, DefaultReadTimeout)
	setDur(&u.WriteTimeout, o.WriteTimeout, DefaultWriteTimeout)
	setDur(&u.PoolTimeout, o.PoolTimeout, DefaultPoolTimeout)
	// A caller's deadline bounds the whole command, not only the socket.
	u.ContextTimeoutEnabled = true
	// No command is retried: consuming a challenge or counting an attempt is
	// not idempotent, and a retry after a lost reply would tell the one
	// winner that it lost. A failure answers 503 and the client retries.
	u.MaxRetries = -1
	// One dial per connection, bounded by DialTimeout. When a node is down,
	// go-redis fails fast after PoolSize failed dials and probes it once a
	// second in the background, so the Store recovers by itself.
	u.DialerRetries = 1
	return u, nil
}

// The URL schemes ParseURL accepts.
const (
	schemeRedis          = "redis"
	schemeRedisTLS       = "rediss"
	schemeUnix           = "unix"
	schemeSentinel       = "redis-sentinel"
	schemeSentinelTLS    = "rediss-sentinel"
	schemeCluster        = "redis-cluster"
	schemeClusterTLS     = "rediss-cluster"
	defaultPort          = "6379"
	defaultSentinelPort  = "26379"
	maxDB                = 1 << 16
	errSchemeExplanation = "redis://, rediss://, unix://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://"
)

// ParseURL turns a REDIS_URL into client options; the package doc lists
// the forms. Its errors never quote the URL, which may hold a password.
// The options carry only what the URL says; New adds the defaults.
func ParseURL(raw string) (*redis.UniversalOptions, error) {
	o, err := parseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redisstore: REDIS_URL: %w", err)
	}
	return o, nil
}

func parseURL(raw string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(raw), "://")
	if !ok {
		return nil, fmt.Errorf("must start with %s", errSchemeExplanation)
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case schemeRedis, schemeRedisTLS, schemeUnix, schemeSentinel, schemeSentinelTLS, schemeCluster, schemeClusterTLS:
	default:
		return nil, fmt.Errorf("scheme %q is not one of %s", scheme, errSchemeExplanation)
	}
	sentinel := scheme == schemeSentinel || scheme == schemeSentinelTLS
	cluster := scheme == schemeCluster || scheme == schemeClusterTLS
	useTLS := strings.HasPrefix(scheme, "rediss")

	// net/url takes one host only, so the host list is cut out by hand and
	// the rest (user info, path, query) is parsed around a placeholder.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(tail, "@") {
		// Most likely a password with a raw / ? or #, which would end up
		// quoted in a later error as a host, database or option.
		return nil, errors.New("'@' after the host: percent-encode @ / ? # % in passwords (%40 %2F %3F %23 %25)")
	}
	userinfo, hostlist := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostlist = authority[:i+1], authority[i+1:]
	}
	u, err := url.Parse("redis://" + userinfo + "placeholder" + tail)
	if err != nil {
		// url.Error quotes the whole URL and EscapeError the bad escape,
		// either of which may be part of a password.
		if errors.As(err, new(url.EscapeError)) {
			return nil, errors.New("bad percent-encoding: write % as %25")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	if u.Fragment != "" || strings.Contains(tail, "#") {
		return nil, errors.New("a fragment (#…) is not allowed")
	}
	o := &redis.UniversalOptions{}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}

	// Hosts.
	port := defaultPort
	if sentinel {
		port = defaultSentinelPort
	}
	var addrs []string
	if hostlist != "" {
		for h := range strings.SplitSeq(hostlist, ",") {
			addr, err := hostPort(h, port)
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, addr)
		}
	}
	switch {
	case scheme == schemeUnix:
		if len(addrs) > 0 {
			return nil, errors.New("unix:// takes a socket path, not a host (unix:///path/to/redis.sock)")
		}
	case len(addrs) == 0 && (sentinel || cluster):
		return nil, fmt.Errorf("%s:// needs at least one host", scheme)
	case len(addrs) == 0:
		addrs = []string{net.JoinHostPort("localhost", port)}
	case len(addrs) > 1 && !sentinel && !cluster:
		return nil, fmt.Errorf("%s:// takes one host; list several with redis-cluster:// or redis-sentinel://", scheme)
	}

	// Path: the database, the Sentinel master name or the socket.
	pathDB := -1
	path := u.Path
	switch {
	case scheme == schemeUnix:
		if path == "" || path == "/" {
			return nil, errors.New("unix:// needs a socket path (unix:///path/to/redis.sock)")
		}
		addrs = []string{path}
	case sentinel:
		master := strings.TrimPrefix(path, "/")
		if master == "" || strings.Contains(master, "/") {
			return nil, errors.New("redis-sentinel:// needs the master name as its path (redis-sentinel://host:26379/mymaster)")
		}
		o.MasterName = master
	case cluster:
		if path != "" && path != "/" {
			return nil, errors.New("redis-cluster:// takes no path: a cluster has database 0 only")
		}
	default:
		if p := strings.TrimPrefix(path, "/"); p != "" {
			db, err := parseDB(p)
			if err != nil {
				return nil, err
			}
			pathDB = db
		}
	}
	o.Addrs = addrs
	if pathDB >= 0 {
		o.DB = pathDB
	}

	// Query.
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(q)) {
		vs := q[name]
		if len(vs) > 1 {
			errs = append(errs, fmt.Errorf("option %s is given %d times", name, len(vs)))
			continue
		}
		v := vs[0]
		switch name {
		case "db":
			if cluster {
				errs = append(errs, errors.New("option db: a cluster has database 0 only"))
				continue
			}
			if pathDB >= 0 {
				errs = append(errs, errors.New("option db: the database is already in the path"))
				continue
			}
			db, err := parseDB(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("option db: %w", err))
				continue
			}
			o.DB = db
		case "pool_size", "min_idle_conns":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("option %s: %q is not a whole number ≥ 0", name, v))
				continue
			}
			if name == "pool_size" {
				o.PoolSize = n
			} else {
				o.MinIdleConns = n
			}
		case "dial_timeout", "read_timeout", "write_timeout", "pool_timeout":
			d, err := parseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("option %s: %w", name, err))
				continue
			}
			switch name {
			case "dial_timeout":
				o.DialTimeout = d
			case "read_timeout":
				o.ReadTimeout = d
			case "write_timeout":
				o.WriteTimeout = d
			default:
				o.PoolTimeout = d
			}
		case "client_name":
			o.ClientName = v
		case "skip_verify":
			if !useTLS {
				errs = append(errs, fmt.Errorf("option skip_verify needs TLS (rediss…://)"))
				continue
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("option skip_verify: %q is not true or false", v))
				continue
			}
			if b {
				o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
			}
		case "sentinel_username", "sentinel_password":
			if !sentinel {
				errs = append(errs, fmt.Errorf("option %s needs redis-sentinel://", name))
				continue
			}
			if name == "sentinel_username" {
				o.SentinelUsername = v
			} else {
				o.SentinelPassword = v
			}
		default:
			errs = append(errs, fmt.Errorf("unknown option %q", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if useTLS && o.TLSConfig == nil {
		// ServerName stays empty: crypto/tls then checks each node's
		// certificate against the address it dials, which is right for
		// clusters and Sentinel deployments with many hosts.
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cluster {
		o.IsClusterMode = true // even with a single seed address
	}
	return o, nil
}

// hostPort parses host[:port] or [v6addr][:port], filling in port.
func hostPort(h, port string) (string, error) {
	if h == "" {
		return "", errors.New("empty host in the host list")
	}
	host := h
	switch {
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
		host = h[1 : len(h)-1]
	case strings.Contains(h, ":"):
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil {
			return "", fmt.Errorf("host %q: write IPv6 addresses in brackets, [::1]:6379", h)
		}
	}
	if host == "" {
		return "", fmt.Errorf("host %q has no name", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("host %q: port %q is not a number from 1 to 65535", h, port)
	}
	return net.JoinHostPort(host, port), nil
}

func parseDB(s string) (int, error) {
	db, err := strconv.Atoi(s)
	if err != nil || db < 0 || db >= maxDB {
		return 0, fmt.Errorf("database %q is not a number ≥ 0", s)
	}
	return db, nil
}

// parseDuration accepts Go durations ("500ms", "2s") and, as go-redis
// does, a plain number of seconds.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.Atoi(s)
		if nerr != nil {
			return 0, fmt.Errorf("%q is not a duration such as 500ms or 2s", s)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not positive", s)
	}
	return d, nil
}
