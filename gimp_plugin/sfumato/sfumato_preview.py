"""The live preview of the Stylize and Fill dialogs (GIMP's Python, standard library and Gtk only).

It shows the result of the current settings on a part of the layer at 1:1, so the brush stroke size looks
as it will in the result, or the whole layer scaled down to fit, with a before/after split. The worker
makes it. For a stylize, the request is the final call's own request plus a region, and the worker runs
only the tiles that reach the region, with the whole layer's statistics, so the preview equals the
final result there. For a fill, the worker runs the fill itself (it touches only the selection's
surroundings) and the view is centred on the selection.

Settings changes are debounced. A newer request closes the connection of an older one, and the worker
then drops that job. All waiting happens on a thread, so the dialog never freezes. Closing the dialog
closes the connection too: no stray layer, process or file is left."""
import os
import socket
import sys
import threading
import time

from gi.repository import GdkPixbuf, GLib, Gtk

import sfumato_client as client
import sfumato_protocol as protocol

VIEW = int(os.environ.get("SFUMATO_PREVIEW_SIZE", "320"))  # px of the view at 1:1 (bench: 512)
DEBOUNCE_MS = 120  # a spin-scale drag sends many changes: wait for a pause this long


def to_rgb8(data, w, h, channels, dtype):
    """Pixels as GIMP's buffers give them -> (bytes, has_alpha) for a GdkPixbuf, 8 bits per channel."""
    data = bytes(data)
    if dtype == "u16":  # little-endian: the high byte of each sample
        data = data[1::2]
    elif dtype == "f32":
        import array
        values = array.array("f")
        values.frombytes(data)
        data = bytes(0 if v <= 0 else 255 if v >= 1 else int(v * 255 + 0.5) for v in values)
    n = w * h
    if channels in (1, 2):  # grey: the same value in R, G and B
        out = bytearray(n * (channels + 2))
        step = channels + 2
        for k in range(3):
            out[k::step] = data[0::channels]
        if channels == 2:
            out[3::4] = data[1::2]
        return bytes(out), channels == 2
    return data, channels == 4


def pixbuf(data, w, h, has_alpha):
    nc = 4 if has_alpha else 3
    return GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(data), GdkPixbuf.Colorspace.RGB, has_alpha, 8, w, h,
                                           w * nc)


class Preview:
    """The preview's widgets and its requests to the worker."""

    def __init__(self, layer_spec, layer_data, mask, focus, build_request, region_supported):
        """layer_spec/layer_data: the layer as the final call reads it (bytes); mask: (spec, bytes) or
        None; focus: (x, y, w, h) to centre the 1:1 view on (the selection's bounds, or the layer);
        build_request(header, buffers): the final call's request, made on the main thread."""
        self.spec, self.data, self.mask = layer_spec, layer_data, mask
        self.build_request, self.region_supported = build_request, region_supported
        w, h = layer_spec["width"], layer_spec["height"]
        vw, vh = min(VIEW, w), min(VIEW, h)
        fx, fy, fw, fh = focus
        x = min(max(0, fx + fw // 2 - vw // 2), w - vw)
        y = min(max(0, fy + fh // 2 - vh // 2), h - vh)
        self.view = (x, y, vw, vh)
        self.before = self._crop(layer_data, (x, y, vw, vh))
        self.after = None
        self.generation = 0
        self.conn = None
        self.timer = None
        self.changed_at = None
        self.closed = False

        self.widget = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        self.image = Gtk.Image()
        frame = Gtk.Frame()
        frame.set_shadow_type(Gtk.ShadowType.IN)
        frame.add(self.image)
        self.widget.pack_start(frame, False, False, 0)
        self.split = Gtk.Scale.new_with_range(Gtk.Orientation.HORIZONTAL, 0, 100, 1)
        self.split.set_value(50)
        self.split.set_draw_value(False)
        self.split.set_tooltip_text("Drag: the picture as it is on the left, the result on the right")
        self.split.connect("value-changed", lambda *_: self._draw())
        row = Gtk.Box(spacing=6)
        row.pack_start(Gtk.Label(label="Before"), False, False, 0)
        row.pack_start(self.split, True, True, 0)
        row.pack_start(Gtk.Label(label="After"), False, False, 0)
        self.widget.pack_start(row, False, False, 0)
        self.whole = Gtk.CheckButton.new_with_mnemonic("_Whole layer (scaled down)")
        self.whole.set_tooltip_text("Show the whole layer scaled to fit instead of a part at full size, "
                                    "where the brush stroke size looks as in the result")
        self.whole.connect("toggled", lambda *_: self.changed())
        self.widget.pack_start(self.whole, False, False, 0)
        self.status = Gtk.Label(xalign=0.0)
        self.widget.pack_start(self.status, False, False, 0)
        self.widget.connect("destroy", lambda *_: self.close())
        self._draw()

    # --- pixels --------------------------------------------------------------------------------

    def _crop(self, data, region):
        """(bytes, has_alpha, w, h) of a region of pixels in the layer's format, made displayable."""
        x, y, w, h = region
        spec = self.spec
        px = spec["channels"] * {"u8": 1, "u16": 2, "f32": 4}[spec["dtype"]]
        row = spec["width"] * px
        raw = b"".join(data[(y + r) * row + x * px:(y + r) * row + (x + w) * px] for r in range(h))
        rgb, alpha = to_rgb8(raw, w, h, spec["channels"], spec["dtype"])
        return rgb, alpha, w, h

    def _draw(self):
        if self.closed:
            return
        before = self.before
        if self.whole.get_active():
            before = self._whole_before()
        rgb, alpha, w, h = before
        base = pixbuf(rgb, w, h, alpha)
        if self.after is not None and self.after[2:] == (w, h):
            after = pixbuf(self.after[0], w, h, self.after[1])
            cut = int(round(w * self.split.get_value() / 100.0))
            if cut < w:  # the result to the right of the cut
                after.copy_area(cut, 0, w - cut, h, base, cut, 0)
        if self.whole.get_active():
            f = min(VIEW / w, VIEW / h, 1.0)
            base = base.scale_simple(max(1, int(w * f)), max(1, int(h * f)), GdkPixbuf.InterpType.BILINEAR)
        self.image.set_from_pixbuf(base)

    def _whole_before(self):
        if getattr(self, "_whole", None) is None:
            self._whole = self._crop(self.data, (0, 0, self.spec["width"], self.spec["height"]))
        return self._whole

    # --- requests ------------------------------------------------------------------------------

    def changed(self, *_):
        """A setting changed: a new preview after a short pause."""
        if self.closed:
            return
        self.changed_at = time.perf_counter()
        if self.timer is not None:
            GLib.source_remove(self.timer)
        self.timer = GLib.timeout_add(DEBOUNCE_MS, self._start)

    def _start(self):
        self.timer = None
        self._cancel()
        self.generation += 1
        gen = self.generation
        header, buffers = {"image": self.spec, "layout": ["image"]}, [self.data]
        if self.mask is not None:
            header["mask"], header["layout"] = self.mask[0], header["layout"] + ["mask"]
            buffers.append(self.mask[1])
        try:
            self.build_request(header, buffers)
        except client.WorkerError as exc:
            self._show_error(gen, str(exc))
            return False
        region = (0, 0, self.spec["width"], self.spec["height"]) if self.whole.get_active() else self.view
        if self.region_supported:
            header["region"] = list(region)
        self.status.set_text("Preview: working...")
        threading.Thread(target=self._request, args=(gen, header, buffers, region, self.changed_at),
                         daemon=True).start()
        return False

    def _request(self, gen, header, buffers, region, changed_at):
        """On a thread: the request and its answer; the drawing goes back to the main loop."""
        conn = None
        try:
            config = client.load_config()
            if config.get("server"):
                conn = client._open_server(config, header, buffers)
                self.conn = conn
            else:
                conn = client.connect_or_start(config)
                self.conn = conn
                if gen != self.generation or self.closed:  # a newer one started while this connected
                    return
                protocol.send(conn, header, *buffers)
            while True:
                msg, bufs = protocol.recv(conn)
                if msg.get("type") == "result":
                    break
                if msg.get("type") == "error":
                    raise client.WorkerError(msg.get("message", "unknown error"))
            data = bufs[0]
            if not self.region_supported:  # a fill: the whole layer came back, the view is cut from it
                data = self._raw_crop(data, region)
            rgb, alpha = to_rgb8(data, region[2], region[3], self.spec["channels"], self.spec["dtype"])
            GLib.idle_add(self._show, gen, (rgb, alpha, region[2], region[3]), changed_at, msg.get("seconds", 0))
        except Exception as exc:  # noqa: BLE001 - cancelled (connection closed) or a message for the status line
            if gen == self.generation and not self.closed:
                GLib.idle_add(self._show_error, gen, str(exc) if isinstance(exc, client.WorkerError)
                              else "Preview stopped (%s)" % type(exc).__name__)
        finally:
            if conn is not None:
                try:
                    conn.close()
                except OSError:
                    pass

    def _raw_crop(self, data, region):
        x, y, w, h = region
        px = self.spec["channels"] * {"u8": 1, "u16": 2, "f32": 4}[self.spec["dtype"]]
        row = self.spec["width"] * px
        data = memoryview(data)
        return b"".join(bytes(data[(y + r) * row + x * px:(y + r) * row + (x + w) * px]) for r in range(h))

    def _show(self, gen, after, changed_at, worker_seconds):
        if gen != self.generation or self.closed:
            return False
        self.after = after
        self._draw()
        waited = time.perf_counter() - changed_at if changed_at else 0.0
        self.status.set_text("Preview: %d x %d at %s" % (after[2], after[3], "full size" if not
                                                         self.whole.get_active() else "whole layer"))
        print("[sfumato] preview %dx%d drawn %.3fs after the change (worker %.3fs)"
              % (after[2], after[3], waited, worker_seconds), file=sys.stderr, flush=True)
        return False

    def _show_error(self, gen, message):
        if gen == self.generation and not self.closed:
            self.status.set_text("Preview: " + message)
        return False

    def _cancel(self):
        conn, self.conn = self.conn, None
        if conn is not None:
            try:  # the reading thread wakes with an error; the worker sees the closed connection and drops the job
                if isinstance(conn, socket.socket):
                    conn.shutdown(socket.SHUT_RDWR)
                else:
                    conn.close()
            except OSError:
                pass

    def close(self):
        self.closed = True
        if self.timer is not None:
            GLib.source_remove(self.timer)
            self.timer = None
        self._cancel()
