package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"
)

// Compute API microversions. 2.60 (Queens) is the oldest Nova the
// provider drives: it needs service UUIDs and hypervisors with their
// servers (2.53), a named host for cold migrations (2.56) and migration
// UUIDs (2.59). It asks for at most 2.84 (instance action event details,
// the reason a migration failed): from 2.88 a hypervisor listing with
// servers calls every compute and hangs for a minute on one that is down.
const (
	minComputeMicroversion = "2.60"
	maxComputeMicroversion = "2.84"
)

// cloud is a connected, authenticated cloud: the clients and what was
// learnt about the APIs. It is shared by concurrent calls and not
// changed after connect.
type cloud struct {
	cfg       *Config
	conn      *connection
	compute   *gophercloud.ServiceClient
	placement *gophercloud.ServiceClient // nil without Placement

	// API versions, as the version documents report them.
	computeMax, placementMax, identityVersion string

	// sleep waits (tests replace it); now is the clock.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitContext ends a margin before ctx's deadline (a tenth of the time
// left, 200 ms to 5 s), so that an action that waits for something until
// then still has time to say what it was waiting for.
func waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := min(max(time.Until(dl)/10, 200*time.Millisecond), 5*time.Second)
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// connect authenticates and builds the clients. Warnings (no Placement…)
// are returned for Configure to show.
func connect(ctx context.Context, cfg *Config, conn *connection) (*cloud, []string, error) {
	tc, err := conn.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	pc, err := gos.NewClient(conn.Auth.IdentityEndpoint)
	if err != nil {
		return nil, nil, fmt.Errorf("auth_url %q: %w", conn.Auth.IdentityEndpoint, err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if tc != nil {
		transport.TLSClientConfig = tc
	}
	pc.HTTPClient = http.Client{Transport: transport, Timeout: cfg.RequestTimeout}
	pc.UserAgent.Prepend("escalator-provider-openstack/" + Version)
	c := &cloud{cfg: cfg, conn: conn, sleep: sleepCtx, now: time.Now}
	pc.RetryFunc = c.retry

	if err := gos.Authenticate(ctx, pc, conn.Auth); err != nil {
		return nil, nil, c.authError(err)
	}
	c.compute, err = gos.NewComputeV2(pc, conn.Endpoint)
	if err != nil {
		return nil, nil, fmt.Errorf("find the compute (Nova) endpoint in the catalog (region %q, interface %s): %w", conn.Endpoint.Region, conn.Endpoint.Availability, err)
	}
	var warnings []string
	c.placement, err = gos.NewPlacementV1(pc, conn.Endpoint)
	if err != nil {
		c.placement = nil
		warnings = append(warnings, fmt.Sprintf("No placement endpoint in the catalog (region %q, interface %s): capacity and usage come from Nova's hypervisor statistics, which ignore allocation ratios and reserved resources.", conn.Endpoint.Region, conn.Endpoint.Availability))
	}
	if err := c.negotiate(ctx); err != nil {
		return nil, nil, err
	}
	return c, warnings, nil
}

// negotiate reads the compute API's version document and picks the
// microversion; it also records the Placement and Identity versions.
func (c *cloud) negotiate(ctx context.Context) error {
	mv, err := utils.GetSupportedMicroversions(ctx, c.compute)
	if err != nil {
		return c.apiError("read the compute API version document", err)
	}
	c.computeMax = fmt.Sprintf("%d.%d", mv.MaxMajor, mv.MaxMinor)
	if ok, _ := mv.IsSupported(minComputeMicroversion); !ok {
		return fmt.Errorf("the compute API (Nova) supports microversions up to %s; escalator needs %s or later (Nova 17, Queens)", c.computeMax, minComputeMicroversion)
	}
	c.compute.Microversion = maxComputeMicroversion
	if ok, _ := mv.IsSupported(maxComputeMicroversion); !ok {
		c.compute.Microversion = c.computeMax
	}
	if c.placement != nil {
		if pv, err := utils.GetSupportedMicroversions(ctx, c.placement); err == nil {
			c.placementMax = fmt.Sprintf("%d.%d", pv.MaxMajor, pv.MaxMinor)
		}
	}
	if vs, err := utils.GetServiceVersions(ctx, c.compute.ProviderClient, c.compute.IdentityEndpoint, true); err == nil && len(vs) > 0 {
		c.identityVersion = fmt.Sprintf("%d.%d", vs[0].Major, vs[0].Minor)
	}
	return nil
}

// retry is the client's RetryFunc: gophercloud calls it for every failed
// request; nil means try again. Conflicts (409), unavailable or
// overloaded services (429, 502, 503, 504) and connection errors are
// retried with exponential backoff and jitter, up to max_retries; a POST
// only when it certainly had no effect (an HTTP error, or a connection
// refused), since an action may have started before the connection
// broke (migrate looks for its record instead).
func (c *cloud) retry(ctx context.Context, method, u string, _ *gophercloud.RequestOpts, err error, failCount uint) error {
	if int(failCount) > c.cfg.MaxRetries || ctx.Err() != nil || !retryable(method, err) {
		return err
	}
	d := backoff(failCount)
	slog.DebugContext(ctx, "retrying an OpenStack request", "method", method, "url", stripQuery(u), "attempt", failCount, "after", d.String(), "error", c.conn.redact(shortError(err)))
	if serr := c.sleep(ctx, d); serr != nil {
		return err
	}
	return nil
}

func retryable(method string, err error) bool {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		switch code.Actual {
		case http.StatusConflict, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	if method == http.MethodPost {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// backoff is 0.5 s doubling per attempt up to 16 s, half of it random so
// that concurrent callers spread out.
func backoff(attempt uint) time.Duration {
	d := 500 * time.Millisecond << min(attempt-1, 5)
	return d/2 + rand.N(d/2+1)
}

func stripQuery(u string) string {
	if p, err := url.Parse(u); err == nil {
		p.RawQuery = ""
		return p.String()
	}
	return u
}

// shortError is an error's message with a response body reduced to its
// message.
func shortError(err error) string {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		msg := bodyMessage(code.Body)
		if msg == "" {
			msg = http.StatusText(code.Actual)
		}
		return fmt.Sprintf("%s %s answered %d: %s", code.Method, stripQuery(code.URL), code.Actual, msg)
	}
	return err.Error()
}

// bodyMessage finds the human message in an OpenStack error body:
// {"forbidden": {"message": …}}, {"error": {"message": …}} (Keystone) or
// {"errors": [{"detail": …}]} (Placement).
func bodyMessage(body []byte) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		s := strings.TrimSpace(string(body))
		if len(s) > 300 {
			s = s[:300] + "…"
		}
		return s
	}
	var find func(v any, depth int) string
	find = func(v any, depth int) string {
		if depth > 3 {
			return ""
		}
		switch t := v.(type) {
		case map[string]any:
			for _, k := range []string{"message", "detail", "title"} {
				if s, ok := t[k].(string); ok && s != "" {
					return strings.TrimSpace(s)
				}
			}
			for _, sub := range t {
				if s := find(sub, depth+1); s != "" {
					return s
				}
			}
		case []any:
			for _, sub := range t {
				if s := find(sub, depth+1); s != "" {
					return s
				}
			}
		}
		return ""
	}
	return find(doc, 0)
}

var policyRE = regexp.MustCompile(`[Pp]olicy doesn't allow (\S+) to be performed`)

// apiError turns a failed call into an error an operator can act on: a
// 403 names the policy and the role, a 401 points at the credentials,
// anything else says what Nova or Placement answered. Secrets are
// redacted.
func (c *cloud) apiError(what string, err error) error {
	if err == nil {
		return nil
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		msg := bodyMessage(code.Body)
		switch code.Actual {
		case http.StatusForbidden:
			policy := "the API's admin policy"
			if m := policyRE.FindStringSubmatch(msg); m != nil {
				policy = "policy " + m[1]
			}
			return fmt.Errorf("%s: forbidden (403) by %s. The credentials (%s, from %s) lack the role it requires: escalator reads and changes compute services, hypervisors, migrations and servers of every project, which Nova and Placement allow the admin role by default. Grant it (openstack role add --user USER --project PROJECT admin), or a role your cloud's policy grants for %s",
				what, policy, c.conn.who(), c.conn.Source, policy)
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: unauthorized (401): Keystone no longer accepts the token and re-authenticating failed; check the credentials from %s (%s)", what, c.conn.Source, c.conn.who())
		}
		return fmt.Errorf("%s: %s", what, c.conn.redact(shortError(err)))
	}
	var reauth *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &reauth) {
		return fmt.Errorf("%s: the token expired and re-authenticating failed: %s; check the credentials from %s", what, c.conn.redact(shortError(reauth.ErrReauth)), c.conn.Source)
	}
	return fmt.Errorf("%s: %s", what, c.conn.redact(err.Error()))
}

// authError explains a failed authentication.
func (c *cloud) authError(err error) error {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		switch code.Actual {
		case http.StatusUnauthorized:
			return fmt.Errorf("authentication refused by Keystone at %s (401 Unauthorized) for the %s credentials of %s: check them in %s; the secret itself is never printed", c.conn.Auth.IdentityEndpoint, c.conn.Method, c.conn.who(), c.conn.Source)
		case http.StatusForbidden:
			return fmt.Errorf("token scope refused by Keystone at %s (403 Forbidden) for %s: the user has no role on that project or system; grant the admin role (openstack role add --user USER --project PROJECT admin). Credentials from %s", c.conn.Auth.IdentityEndpoint, c.conn.who(), c.conn.Source)
		}
	}
	return fmt.Errorf("authenticate to Keystone at %s as %s (from %s): %s", c.conn.Auth.IdentityEndpoint, c.conn.who(), c.conn.Source, c.conn.redact(shortError(err)))
}

// requestID is the id Nova gave a request, for its instance actions.
func requestID(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	return firstOf(resp.Header.Get("X-Openstack-Request-Id"), resp.Header.Get("X-Compute-Request-Id"))
}
