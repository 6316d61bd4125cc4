// Package fmp4 owns nvr's on-disk segment format: it writes fragmented MP4
// segments (ISO/IEC 14496-12 with one H.264 video track, ISO/IEC 14496-15
// avcC sample entry) and reads them back, stopping at the last complete
// fragment so that a torn tail left by a crash is cut off rather than
// trusted.
//
// It does no file naming, no indexing and no fsync scheduling (package
// storage and the recorder decide those) and it starts no goroutines: the
// Writer writes to the io.Writer it is given, Scan reads through an
// io.ReaderAt. The only function that touches the filesystem is Recover.
//
// Layout of a segment, all times in a 90 kHz timescale:
//
//	ftyp
//	moov { mvhd, trak { tkhd, mdia { mdhd, hdlr, minf { vmhd, dinf, stbl { stsd avc1 { avcC [pasp] }, empty stts/stsc/stsz/stco } } } }, mvex { trex } }
//	moof { mfhd, traf { tfhd, tfdt, trun } } mdat
//	moof ... mdat ...
//
// tfdt carries the decode time relative to the segment's first sample, so
// every segment's media timeline starts at zero.
package fmp4
