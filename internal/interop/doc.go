// Package interop holds nvr's interoperability tests: they run the built
// nvr binary (probe, serve, and the export API) against RTSP servers that
// share no code with the project's test camera, with H.264 streams that
// camera never produces.
//
// The servers are gortsplib v5's server, fed with libx264 output encoded by
// ffmpeg at test time and packetized by gortsplib's own RFC 6184 encoder,
// the GStreamer RTSP server (testdata/gst_rtsp_server.py), a separate
// RTSP stack, SDP writer and RTP payloader, and rtsp-server-perl relaying
// what ffmpeg publishes (ffmpeg's own RTP payloader). The streams differ
// from the test camera's clips in size (1080p with cropping, 854x480), frame rate
// (30, 29.97, 15), profile (High with three B-frames), slices per frame,
// GOP length, and the absence of access unit delimiters.
//
// NVR_INTEROP_KEEP=dir keeps every exported clip in dir for a look after a
// failure.
//
// The package owns no product code: it only tests cmd/nvr from outside, the
// way the project is judged. Tools it needs (ffmpeg, ffprobe, python3 with
// GStreamer's RTSP server, rtsp-server-perl) make a test skip on a
// developer machine and fail when the CI environment variable is set.
package interop
