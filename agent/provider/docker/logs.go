package docker

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// maxTailBytes bounds the log tail kept in a reason.
const maxTailBytes = 4 << 10

// logTail returns the last LogTailLines lines of the container's stdout and stderr,
// interleaved as the engine stored them, with secret masked in every form a runner may
// print it (maskSecret). "" when there is no log or it cannot be read: a tail is a
// courtesy, never a reason to fail.
func (p *Provider) logTail(ctx context.Context, id, secret string) string {
	rc, err := p.eng.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(p.cfg.LogTailLines),
	})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	// Containers run without a TTY, so the stream is multiplexed; both halves go to one
	// buffer in order.
	if _, err := stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, 4*maxTailBytes)); err != nil && buf.Len() == 0 {
		return ""
	}
	s := buf.String()
	s = maskSecret(s, secret)
	s = strings.TrimRight(s, "\n")
	if len(s) > maxTailBytes {
		s = "…" + s[len(s)-maxTailBytes:]
	}
	return s
}
