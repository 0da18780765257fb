package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
)

// imagePresentFor is how long an image found on the engine is taken to stay there: a
// burst's creations do not each ask the engine first (one call fewer on the path from a
// job to its runner, issue 15). A create that finds it gone after all forgets it and
// tries once more (Create).
const imagePresentFor = time.Minute

// ensureImage makes ref present on the engine as the pull policy says.
func (p *Provider) ensureImage(ctx context.Context, ref string) error {
	if p.cfg.PullPolicy != PullAlways {
		if p.imagePresent(ref) {
			return nil
		}
		_, err := p.eng.ImageInspect(ctx, ref)
		switch {
		case err == nil:
			p.markImage(ref, true)
			return nil
		case !cerrdefs.IsNotFound(err):
			return fmt.Errorf("inspect image %s: %w", ref, err)
		case p.cfg.PullPolicy == PullNever:
			return fmt.Errorf("%w: %s is not on the engine and the pull policy is %q (build or load it first)", ErrImageMissing, ref, PullNever)
		}
	}
	if err := p.pull(ctx, ref); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s (pull policy %q): %w", ErrPull, ref, p.cfg.PullPolicy, err)
	}
	if p.cfg.PullPolicy != PullAlways {
		p.markImage(ref, true)
	}
	return nil
}

func (p *Provider) imagePresent(ref string) bool {
	p.imagesMu.Lock()
	defer p.imagesMu.Unlock()
	at, ok := p.images[ref]
	return ok && time.Since(at) < imagePresentFor
}

// markImage records ref as found on the engine now (present), or forgets it.
func (p *Provider) markImage(ref string, present bool) {
	p.imagesMu.Lock()
	defer p.imagesMu.Unlock()
	if !present {
		delete(p.images, ref)
		return
	}
	if p.images == nil {
		p.images = map[string]time.Time{}
	}
	p.images[ref] = time.Now()
}

// pull pulls ref and reads the progress stream to its end: the engine reports a failed
// pull inside the stream, not in the status code.
func (p *Provider) pull(ctx context.Context, ref string) error {
	auth, err := p.auth.For(ref)
	if err != nil {
		return err
	}
	p.log.Info("pulling image", "image", ref, "with_credentials", auth != "")
	rc, err := p.eng.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer rc.Close()
	return streamError(rc)
}

// streamError reads a JSON message stream (pull, build) and returns its first error.
func streamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read engine progress: %w", err)
		}
		if m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
