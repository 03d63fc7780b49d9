package command

import (
	"bytes"
	"strings"
	"testing"

	"github.com/escalator-nfv/escalator/internal/command/views"
)

// testStreams returns streams over buffers, with stdin reading stdin.
func testStreams(stdin string) (*views.Streams, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return &views.Streams{
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
	}, &stdout, &stderr
}

// result is what a command run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runMain runs Main with args and no standard input.
func runMain(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := Main(args, streams)
	return result{code, stdout.String(), stderr.String()}
}
