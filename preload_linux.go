//go:build linux && cgo

package main

// Loading libvirt.so.0 and its 56 libraries takes about 8 ms, and nothing
// can talk to libvirt before it is done. The constructor below, which the
// C runtime runs before Go's own start-up, begins that load on a thread
// of its own when the command line names a command that connects, so it
// overlaps Go's start-up and the command-line parsing (about 2 ms) on
// another CPU. The libvirt binding's own dlopen, on the first call, then
// finds the library loaded (or waits for the load to end). Commands that
// never connect (version, help, completion, man, history, any --help)
// never load it: TestIntegrationStartupLoadsNoLibvirt checks that. The
// flags match the patched binding's (scripts/libvirt-lazy-init.patch), so
// that its dlopen has nothing left to bind.

/*
#cgo LDFLAGS: -ldl -lpthread
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

static void *virtchain_load(void *unused) {
	(void)unused;
	dlopen("libvirt.so.0", RTLD_LAZY | RTLD_LOCAL);
	return NULL;
}

static int virtchain_is(const char *a, const char *const *words) {
	for (; *words; words++) {
		if (strcmp(a, *words) == 0) {
			return 1;
		}
	}
	return 0;
}

// virtchain_connects tells from argv whether the command will talk to
// libvirt: the first word that is neither a flag nor a flag's value is
// the command, and no command at all opens the terminal UI.
static int virtchain_connects(int argc, char **argv) {
	static const char *const quiet[] = {"-h", "--help", "-v", "--version", NULL};
	static const char *const valued[] = {"-c", "--connect", "--host", "--domain", NULL};
	static const char *const offline[] = {"version", "help", "completion", "man", "history",
		"__complete", "__completeNoDesc", NULL};
	const char *command = NULL;
	for (int i = 1; i < argc && argv[i]; i++) {
		const char *a = argv[i];
		if (virtchain_is(a, quiet)) {
			return 0;
		}
		if (strcmp(a, "--") == 0) {
			break;
		}
		if (a[0] == '-') {
			if (virtchain_is(a, valued)) {
				i++;
			}
			continue;
		}
		if (command == NULL) {
			command = a;
		}
	}
	return command == NULL || !virtchain_is(command, offline);
}

__attribute__((constructor)) static void virtchain_preload(int argc, char **argv) {
	pthread_attr_t attr;
	pthread_t thread;
	if (!virtchain_connects(argc, argv) || pthread_attr_init(&attr) != 0) {
		return;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_create(&thread, &attr, virtchain_load, NULL);
	pthread_attr_destroy(&attr);
}
*/
import "C"
