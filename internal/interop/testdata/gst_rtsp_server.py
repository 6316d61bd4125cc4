#!/usr/bin/python3
"""A tiny GStreamer RTSP server for nvr's interoperability tests.

It serves one live H.264 stream (videotestsrc -> x264enc -> rtph264pay) at
rtsp://127.0.0.1:PORT/stream, optionally with an audio track (a 440 Hz tone
through GStreamer's AAC, LATM, G.711 or Opus payloader) and behind Basic or
Digest auth, and prints "READY" on stdout once it listens. It runs until
killed.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


# The audio branches: encoder and payloader for each --audio.
TONE = "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate={rate},channels=1 "
AUDIO = {
    "none": "",
    "aac": TONE.format(rate=16000) + "! voaacenc bitrate=32000 ! rtpmp4gpay name=pay1 pt=97",
    "aac-latm": TONE.format(rate=16000) + "! voaacenc bitrate=32000 ! rtpmp4apay name=pay1 pt=97",
    "pcmu": TONE.format(rate=8000) + "! mulawenc ! rtppcmupay name=pay1",
    "pcma": TONE.format(rate=8000) + "! alawenc ! rtppcmapay name=pay1",
    "opus": TONE.format(rate=48000) + "! opusenc ! rtpopuspay name=pay1 pt=98",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", default="15/1")
    ap.add_argument("--keyint", type=int, default=30)
    ap.add_argument("--bframes", type=int, default=0)
    ap.add_argument("--profile", default="main")
    ap.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--audio", choices=sorted(AUDIO), default="none")
    ap.add_argument("--clip", default="",
                    help="serve this Matroska file (H.264 + 16-bit PCM) instead of test sources, "
                         "its audio encoded as --audio")
    a = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))

    # zerolatency disables B-frames (and lookahead); only use it when the
    # stream is meant to have none.
    tune = "tune=zerolatency" if a.bframes == 0 else ""
    launch = (
        "( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={a.width},height={a.height},framerate={a.fps} "
        f"! x264enc key-int-max={a.keyint} bframes={a.bframes} {tune} speed-preset=veryfast bitrate=1500 "
        f"! video/x-h264,profile={a.profile} "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 "
        f"{AUDIO[a.audio]} )"
    )
    if a.clip:
        # The clip's PCM goes through the same encoders as the tone.
        enc = AUDIO[a.audio].split("! ", 2)[2]
        rate = {"pcmu": 8000, "pcma": 8000}.get(a.audio, 48000)
        launch = (
            f"( filesrc location={a.clip} ! matroskademux name=d "
            "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 "
            f"d.audio_0 ! queue ! audioconvert ! audioresample ! audio/x-raw,rate={rate},channels=1 ! {enc} )"
        )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)

    if a.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if a.auth == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(a.user, a.password, token)
        else:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(perms)

    server.get_mount_points().add_factory("/stream", factory)
    if server.attach(None) == 0:
        print("attach failed", file=sys.stderr)
        sys.exit(1)
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
