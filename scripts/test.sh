#!/usr/bin/env bash
# Runs the whole suite once per libvirt host: the machine's own libvirtd
# ("local", Debian 12: libvirt 9.0) and the hosts scripts/testhost.sh
# starts. Each pass names its host and libvirt version, so a failure says
# which libvirt it is on, and hands the tests the host's qemu+ssh URI too
# (VIRTCHAIN_TEST_SSH_URI: through the host's own sshd; for local, the sshd
# testhost.sh starts as local-ssh), for the tests of remote connections.
# Then the integration tests of cli and libvirtx run once more over that
# ssh URI (see the pass over ssh below).
# Hosts this script started are stopped again, also when a test fails or
# the run is interrupted.
#
#   scripts/test.sh [HOST...]     default: local trixie
set -uo pipefail
cd "$(dirname "$0")/.."

hosts=("$@")
[ ${#hosts[@]} -gt 0 ] || hosts=(local trixie)
bin=$PWD/virtchain
started=()
cleanup() {
	for h in "${started[@]}"; do bash scripts/testhost.sh down "$h" >/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failed=()
for h in "${hosts[@]}"; do
	if [ "$h" = local ]; then
		uri=qemu:///system root=/ ssh_uri=
		bash scripts/testhost.sh status local-ssh >/dev/null 2>&1 || started+=(local-ssh)
		if bash scripts/testhost.sh up local-ssh; then
			ssh_uri=$(bash scripts/testhost.sh ssh-uri local-ssh)
		else
			echo "=== host local: no sshd, so the tests of qemu+ssh skip"
		fi
	else
		bash scripts/testhost.sh status "$h" >/dev/null 2>&1 || started+=("$h")
		bash scripts/testhost.sh up "$h" || { failed+=("$h (did not start)"); continue; }
		uri=$(bash scripts/testhost.sh uri "$h") root=$(bash scripts/testhost.sh root "$h")
		ssh_uri=$(bash scripts/testhost.sh ssh-uri "$h")
	fi
	version=$(virsh -c "$uri" version --daemon 2>/dev/null | sed -n 's/^Running against daemon: *//p')
	echo "=== host $h: libvirt ${version:-?} on $uri"
	t0=$SECONDS
	if ! VIRTCHAIN_INTEGRATION=1 VIRTCHAIN_BIN=$bin VIRTCHAIN_TEST_HOST=$h VIRTCHAIN_TEST_URI=$uri VIRTCHAIN_TEST_ROOT=$root VIRTCHAIN_TEST_SSH_URI=$ssh_uri \
		go test -race -tags libvirt_dlopen -count=1 -p 1 -timeout 45m ./...; then
		failed+=("$h (libvirt ${version:-?})")
	fi
	echo "=== host $h: direct pass took $((SECONDS - t0))s"
	# The same integration tests of cli and libvirtx again with the ssh URI
	# as the connection under test (VIRTCHAIN_TEST_VIA=ssh): virtchain goes
	# through ssh and libvirt's remote code paths, the tests' own setup and
	# checks through the host's socket. The soak and the UI run directly
	# only; -race ran in the direct pass.
	if [ -z "$ssh_uri" ]; then
		echo "=== host $h: no qemu+ssh URI, so no pass over ssh"
		continue
	fi
	echo "=== host $h over ssh: $ssh_uri"
	t0=$SECONDS
	if ! VIRTCHAIN_INTEGRATION=1 VIRTCHAIN_BIN=$bin VIRTCHAIN_TEST_HOST=$h VIRTCHAIN_TEST_URI=$uri VIRTCHAIN_TEST_ROOT=$root VIRTCHAIN_TEST_SSH_URI=$ssh_uri VIRTCHAIN_TEST_VIA=ssh \
		go test -tags libvirt_dlopen -count=1 -p 1 -timeout 30m ./cli/ ./libvirtx/; then
		failed+=("$h over ssh (libvirt ${version:-?})")
	fi
	echo "=== host $h: pass over ssh took $((SECONDS - t0))s"
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "=== FAILED on: ${failed[*]}"
	exit 1
fi
echo "=== passed on: ${hosts[*]}"
