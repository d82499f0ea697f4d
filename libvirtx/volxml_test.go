package libvirtx

import "testing"

// A volume whose file name holds an escape character: libvirt's XML holds
// it raw, which encoding/xml refuses; the volume is read all the same, the
// name as it is.
func TestUnmarshalVolumeWithControlCharacters(t *testing.T) {
	doc := "<volume type='file'><name>top\x1b[31m.qcow2</name><key>/d/top\x1b[31m.qcow2</key>" +
		"<capacity unit='bytes'>1048576</capacity><target><path>/d/top\x1b[31m.qcow2</path><format type='qcow2'/></target>" +
		"<backingStore><path>/d/base\x1b[31m.qcow2\x07</path><format type='qcow2'/></backingStore></volume>"
	v, err := unmarshalVolume(doc)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "top\x1b[31m.qcow2" || v.Key != "/d/top\x1b[31m.qcow2" || v.Target.Path != "/d/top\x1b[31m.qcow2" ||
		v.BackingStore.Path != "/d/base\x1b[31m.qcow2\x07" || v.Target.Format.Type != "qcow2" || volumeBytes(v.Capacity) != 1<<20 {
		t.Fatalf("%+v %+v %+v", v, v.Target, v.BackingStore)
	}
	if _, err := unmarshalVolume("<volume><name>x</name"); err == nil {
		t.Fatal("broken XML read")
	}
}
