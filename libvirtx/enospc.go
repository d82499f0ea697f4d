package libvirtx

import (
	"sync"

	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// A full filesystem, named in words. QEMU stops a domain whose guest write
// meets ENOSPC (werror's default) and libvirt sends an I/O error event with
// reason "enospc"; a block job that meets it just fails, with no reason in
// libvirt's event, so a failed job whose target filesystem is nearly full
// is said to have stopped for lack of space.

// ioError is one enospc I/O error event, copied off libvirt's event loop.
type ioError struct {
	domain, alias, path string
	paused              bool
}

// noSpaceSubs hands each enospc I/O error to the channels subscribed.
type noSpaceSubs struct {
	mu   sync.Mutex
	next int
	subs map[int]chan<- ioError
}

func (s *noSpaceSubs) add(ch chan<- ioError) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[int]chan<- ioError{}
	}
	s.next++
	s.subs[s.next] = ch
	return s.next
}

func (s *noSpaceSubs) remove(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, id)
}

// publish never blocks: it runs on libvirt's event loop.
func (s *noSpaceSubs) publish(e ioError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// watchIOErrors follows enospc I/O errors (from the connection's event
// hub) and puts them, in words, on the jobs of that domain's disk (any of
// its jobs when the disk is not known). It ends with the watcher.
func (w *JobWatcher) watchIOErrors() {
	ch := make(chan ioError, 16)
	id := w.c.events.noSpace.add(ch)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer w.c.events.noSpace.remove(id)
		for {
			select {
			case <-w.done:
				return
			case e := <-ch:
				w.applyIOError(e)
			}
		}
	}()
}

func (w *JobWatcher) applyIOError(e ioError) {
	disk, file := w.c.diskOfAlias(e.domain, e.alias, e.path)
	var fs model.Filesystem
	if file != "" {
		fs, _ = w.c.filesystemOf(file)
	}
	text := model.IOErrorText(e.domain, disk, file, fs, e.paused)
	var hit []model.Job
	w.mu.Lock()
	for _, wj := range w.jobs {
		if wj.job.Domain == e.domain && (disk == "" || wj.job.Disk == disk) {
			wj.job.Error = text
			hit = append(hit, wj.job)
		}
	}
	if len(hit) == 0 {
		// The full disk is another disk of the domain: its jobs are told.
		for _, wj := range w.jobs {
			if wj.job.Domain == e.domain {
				wj.job.Error = text
				hit = append(hit, wj.job)
			}
		}
	}
	w.mu.Unlock()
	for _, j := range hit {
		w.send(j, true)
	}
}

// diskOfAlias finds the disk target and its active file from the device
// alias of an I/O error (virtio-disk0), falling back to the source path.
func (c *Conn) diskOfAlias(domain, alias, path string) (target, file string) {
	file = path
	dom, err := c.virt.LookupDomainByName(domain)
	if err != nil {
		return "", file
	}
	defer dom.Free()
	doc, err := dom.GetXMLDesc(0)
	if err != nil {
		return "", file
	}
	var def libvirtxml.Domain
	if def.Unmarshal(doc) != nil || def.Devices == nil {
		return "", file
	}
	for _, d := range def.Devices.Disks {
		if d.Target == nil {
			continue
		}
		src := ""
		if d.Source != nil && d.Source.File != nil {
			src = d.Source.File.File
		}
		if (alias != "" && d.Alias != nil && d.Alias.Name == alias) || (path != "" && src == path) {
			if file == "" {
				file = src
			}
			return d.Target.Dev, file
		}
	}
	return "", file
}

// noSpaceFailure words a failed job whose target filesystem is nearly
// full, or returns "". A commit writes into its base, a pull into the
// active layer.
func (c *Conn) noSpaceFailure(j model.Job) string {
	file := j.Top
	if j.Kind == model.JobCommit || j.Kind == model.JobActiveCommit {
		file = j.Base
	}
	if file == "" {
		return ""
	}
	fs, ok := c.filesystemOf(file)
	if !ok {
		return ""
	}
	return model.NoSpaceText(j.Kind, file, fs)
}

// filesystemOf is the filesystem holding path on c's host: statfs here,
// or what the storage pool over its folder reports on a remote host.
func (c *Conn) filesystemOf(path string) (model.Filesystem, bool) {
	if c.local {
		return filesystemOf(path)
	}
	return c.remoteFilesystemOf(path)
}
