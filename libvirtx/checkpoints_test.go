package libvirtx

import (
	"testing"
	"time"

	"virtchain/model"
)

// libvirt leaves size out when the bitmap's chain does not start at the
// active layer, and writes size='0' for one with nothing changed yet;
// libvirtxml reads both as 0, the parser must not.
func TestParseCheckpointSizes(t *testing.T) {
	doc := `<domaincheckpoint><name>cp1</name><parent><name>cp0</name></parent><creationTime>1700000000</creationTime>
<disks><disk name='vda' checkpoint='bitmap' bitmap='cp1' size='0'/><disk name='vdb' checkpoint='bitmap' bitmap='cp1'/>
<disk name='vdc' checkpoint='no'/><disk name='vdd'/></disks></domaincheckpoint>`
	c, err := parseCheckpoint(doc, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.CheckpointDisk{
		{Target: "vda", Kind: "bitmap", Bitmap: "cp1", Live: true},
		{Target: "vdb", Kind: "bitmap", Bitmap: "cp1"},
		{Target: "vdc", Kind: "no"},
		{Target: "vdd", Kind: "bitmap", Bitmap: "cp1"},
	}
	if c.Name != "cp1" || c.Parent != "cp0" || !c.Created.Equal(time.Unix(1700000000, 0)) || len(c.Disks) != len(want) {
		t.Fatalf("%+v", c)
	}
	for i := range want {
		if c.Disks[i] != want[i] {
			t.Errorf("disk %d: %+v, want %+v", i, c.Disks[i], want[i])
		}
	}
	// Asked without sizes, nothing is live.
	c, _ = parseCheckpoint(doc, false)
	if c.Disks[0].Live {
		t.Errorf("live without sizes: %+v", c.Disks[0])
	}
	if _, err := parseCheckpoint("<domaincheckpoint><name>", false); err == nil {
		t.Error("bad XML accepted")
	}
}
