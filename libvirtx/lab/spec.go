package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"virtchain/assets"
)

// spec is assets/lab/lab.json.
type spec struct {
	Images  []image     `json:"images"`
	Domains []domainDef `json:"domains"`
}

type image struct {
	File    string   `json:"file"`
	Size    string   `json:"size"`    // for a base image
	Backing string   `json:"backing"` // file name in the lab folder, stored relative
	Writes  []string `json:"writes"`  // "PATTERN OFFSET LENGTH" in qemu-io syntax
}

type domainDef struct {
	Name  string `json:"name"`
	About string `json:"about"`
	Disks []disk `json:"disks"`
	Steps []step `json:"steps"`
}

type disk struct {
	Target string `json:"target"`
	Image  string `json:"image"`
}

// step does one thing: start the domain, take a snapshot (internal, or
// external when External maps targets to overlay files), revert to a
// snapshot, or write patterns into disks' active layers.
type step struct {
	Start       bool                `json:"start"`
	Snapshot    string              `json:"snapshot"`
	Description string              `json:"description"`
	External    map[string]string   `json:"external"`
	Revert      string              `json:"revert"`
	Write       map[string][]string `json:"write"`
}

var (
	sizeRe    = regexp.MustCompile(`^[0-9]+[KMG]?$`)
	patternRe = regexp.MustCompile(`^0x[0-9a-fA-F]{1,2}$`)
	fileRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// loadSpec parses and checks the embedded lab description, so a typo in
// the asset fails before anything is created.
func loadSpec() (spec, error) {
	var s spec
	dec := json.NewDecoder(bytes.NewReader(assets.LabJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("assets/lab/lab.json: %w", err)
	}
	if err := s.check(); err != nil {
		return s, fmt.Errorf("assets/lab/lab.json: %w", err)
	}
	return s, nil
}

// check holds the description to what `lab up` can build: every file
// named once, every backing image and disk image listed before it is used,
// every write well formed.
func (s spec) check() error {
	files := map[string]bool{} // images, then the overlays snapshots create
	for _, img := range s.Images {
		if err := checkImage(img, files); err != nil {
			return err
		}
		files[img.File] = true
	}
	names := map[string]bool{}
	for _, d := range s.Domains {
		if !fileRe.MatchString(d.Name) || names[d.Name] {
			return fmt.Errorf("bad or repeated domain name %q", d.Name)
		}
		names[d.Name] = true
		if err := checkDomain(d, files); err != nil {
			return fmt.Errorf("domain %s: %w", d.Name, err)
		}
	}
	return nil
}

// checkImage decides whether img can be made: a new file name, either a
// size (a base image) or a backing image made before it, and good writes.
func checkImage(img image, files map[string]bool) error {
	if !fileRe.MatchString(img.File) || files[img.File] {
		return fmt.Errorf("bad or repeated image file %q", img.File)
	}
	if (img.Backing == "") == (img.Size == "") || (img.Size != "" && !sizeRe.MatchString(img.Size)) {
		return fmt.Errorf("image %s needs either a size or a backing image", img.File)
	}
	if img.Backing != "" && !files[img.Backing] {
		return fmt.Errorf("image %s is backed by %q, which is not listed before it", img.File, img.Backing)
	}
	for _, w := range img.Writes {
		if _, err := parseWrite(w); err != nil {
			return fmt.Errorf("image %s: %w", img.File, err)
		}
	}
	return nil
}

// checkDomain decides whether d's disks and steps name only what exists:
// listed images, its own disk targets, and overlay files not yet used
// (which it adds to files).
func checkDomain(d domainDef, files map[string]bool) error {
	targets := map[string]bool{}
	for _, dk := range d.Disks {
		if !files[dk.Image] || dk.Target == "" {
			return fmt.Errorf("disk %q uses unknown image %q", dk.Target, dk.Image)
		}
		targets[dk.Target] = true
	}
	for _, st := range d.Steps {
		for t, f := range st.External {
			if !targets[t] || !fileRe.MatchString(f) || files[f] {
				return fmt.Errorf("snapshot %s: bad overlay %s=%q", st.Snapshot, t, f)
			}
			files[f] = true
		}
		for t, ws := range st.Write {
			if !targets[t] {
				return fmt.Errorf("write to unknown disk %q", t)
			}
			for _, w := range ws {
				if _, err := parseWrite(w); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// patternWrite is one qemu-io pattern write.
type patternWrite struct{ Pattern, Offset, Length string }

func parseWrite(s string) (patternWrite, error) {
	f := strings.Fields(s)
	if len(f) != 3 || !patternRe.MatchString(f[0]) || !sizeRe.MatchString(f[1]) || !sizeRe.MatchString(f[2]) {
		return patternWrite{}, fmt.Errorf("bad write %q: want \"0xNN OFFSET LENGTH\"", s)
	}
	return patternWrite{f[0], f[1], f[2]}, nil
}

func (w patternWrite) command(op string) string {
	return op + " -P " + w.Pattern + " " + w.Offset + " " + w.Length
}

// only narrows the lab to some domains and the images their chains need.
func (s spec) only(names []string) (spec, error) {
	var out spec
	need := map[string]bool{}
	for _, n := range names {
		i := slices.IndexFunc(s.Domains, func(d domainDef) bool { return d.Name == n })
		if i < 0 {
			var have []string
			for _, d := range s.Domains {
				have = append(have, d.Name)
			}
			return out, fmt.Errorf("the lab has no domain %q (it has %s)", n, strings.Join(have, ", "))
		}
		out.Domains = append(out.Domains, s.Domains[i])
		for _, d := range s.Domains[i].Disks {
			need[d.Image] = true
		}
	}
	// Images list backing images first, so walking backwards pulls in
	// every base a needed image names.
	for i := len(s.Images) - 1; i >= 0; i-- {
		if need[s.Images[i].File] && s.Images[i].Backing != "" {
			need[s.Images[i].Backing] = true
		}
	}
	for _, img := range s.Images {
		if need[img.File] {
			out.Images = append(out.Images, img)
		}
	}
	return out, nil
}
