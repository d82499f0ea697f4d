package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// createImages makes the images, a few at a time: each one waits only
// for its backing image, so a fleet's many chains grow side by side.
func createImages(ctx context.Context, dir string, images []image) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(map[string]chan struct{}, len(images))
	for _, img := range images {
		done[img.File] = make(chan struct{})
	}
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if img.Backing != "" {
				select {
				case <-done[img.Backing]:
				case <-ctx.Done():
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			err := createImage(ctx, dir, img)
			<-sem
			if err != nil {
				once.Do(func() { first = err; cancel() })
				return
			}
			close(done[img.File])
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// createImage makes one image with qemu-img and writes its patterns
// offline with qemu-io. Backing names are stored relative, as an admin's
// hand-made chain often is; libvirt's own overlays store absolute ones.
func createImage(ctx context.Context, dir string, img image) error {
	path := filepath.Join(dir, img.File)
	args := []string{"create", "-q", "-f", "qcow2"}
	if img.Backing != "" {
		args = append(args, "-F", "qcow2", "-b", img.Backing, path)
	} else {
		args = append(args, path, img.Size)
	}
	if err := runTool(ctx, "qemu-img", args...); err != nil {
		return err
	}
	for _, w := range img.Writes {
		pw, _ := parseWrite(w) // checked by loadSpec
		if err := runTool(ctx, "qemu-io", "-f", "qcow2", "-c", pw.command("write"), path); err != nil {
			return err
		}
	}
	return nil
}

// runTool runs an external program from its argument vector and turns a
// failure into one line with the program's own message.
func runTool(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		if errors.Is(err, exec.ErrNotFound) {
			msg = name + " is not installed: run `bash scripts/setup.sh` (Debian package qemu-utils)"
		}
		return toolError(name, args, msg)
	}
	// qemu-io reports a failed command on stdout and still exits 0.
	if name == "qemu-io" && (bytes.Contains(out, []byte("failed")) || bytes.Contains(out, []byte("error"))) {
		return toolError(name, args, strings.TrimSpace(string(out)))
	}
	return nil
}

// toolError is a failed program's command line and the first line of
// what it said.
func toolError(name string, args []string, msg string) error {
	first, _, _ := strings.Cut(msg, "\n")
	return fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), first)
}
