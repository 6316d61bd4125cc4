package nalrtp

// sarTable is Table E-1 of ITU-T H.264 and of H.265 (the same table),
// indexed by aspect_ratio_idc 1..16.
var sarTable = [...][2]int{
	{1, 1}, {12, 11}, {10, 11}, {16, 11}, {40, 33}, {24, 11}, {20, 11}, {32, 11},
	{80, 33}, {18, 11}, {15, 11}, {64, 33}, {160, 99}, {4, 3}, {3, 2}, {2, 1},
}

// extendedSAR is the aspect_ratio_idc value that carries an explicit ratio.
const extendedSAR = 255

// SampleAspectRatio turns a VUI's aspect_ratio_idc (and sar_width and
// sar_height for Extended_SAR) into a ratio; unspecified and reserved
// values are square pixels.
func SampleAspectRatio(idc uint8, w, h uint16) (int, int) {
	switch {
	case idc >= 1 && int(idc) <= len(sarTable):
		r := sarTable[idc-1]
		return r[0], r[1]
	case idc == extendedSAR && w > 0 && h > 0:
		return int(w), int(h)
	}
	// 0 is "unspecified", 17..254 are reserved: treat as square pixels.
	return 1, 1
}

// anamorphic4x3 lists picture sizes that cameras send without any aspect
// ratio in the SPS although they are meant to be shown at 4:3 (Hikvision
// DS-2CD2032-I sub stream: 704x480; moonfire-nvr server/src/stream.rs),
// with the sample aspect ratio that gives 4:3: SAR = (4*H)/(3*W), reduced.
// The size is the camera's habit, not the codec's, so H.265 gets it too.
var anamorphic4x3 = map[[2]int][2]int{
	{704, 480}: {10, 11}, {704, 576}: {12, 11},
	{352, 240}: {10, 11}, {352, 288}: {12, 11},
	{720, 480}: {8, 9}, {720, 576}: {16, 15},
}

// DisplaySAR is the sample aspect ratio to show a width x height picture
// with: the signalled one, else the 4:3 ratio for the anamorphic sizes
// cameras send unsignalled, else 1:1.
func DisplaySAR(signalled bool, sarW, sarH, width, height int) (w, h int) {
	if signalled {
		return sarW, sarH
	}
	if r, ok := anamorphic4x3[[2]int{width, height}]; ok {
		return r[0], r[1]
	}
	return 1, 1
}
