"""Sfumato for GIMP 3: Filters > Sfumato > Remove Object / Fill Selection... / Stylize... / Stylize Like an
Image... / Stylize Animation Frames...

GIMP's Python cannot import onnxruntime, so this plug-in reads the active layer and the selection,
hands the pixels to the Sfumato worker (a long-lived process in the project's own environment,
see sfumato_client.py) and writes the result to a new layer above the source (default) or into the
source inside one undo group. The user's pixels are never lost: outside the selection the result is
the source, bit for bit.

GIMP starts sfumato.py, which imports this module (so Python keeps its compiled bytecode) and calls main().
"""
import os
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

import sfumato_client as client  # noqa: E402

STYLIZE = "sfumato-stylize"
STYLIZE_WITH = "sfumato-stylize-with"
FILL = "sfumato-fill-selection"
FRAMES = "sfumato-stylize-frames"
MENU_PROCEDURES = (FILL, STYLIZE, STYLIZE_WITH, FRAMES)


# --- pixels in and out -----------------------------------------------------------------------

def pixel_format(image, drawable):
    """Babl format and wire dtype at the image's own precision (no posterising of 16/32-bit work)."""
    name = image.get_precision().value_nick  # e.g. "u8-non-linear", "u16-linear", "float-perceptual"
    babl_type, dtype = ("u8", "u8") if name.startswith("u8") else ("u16", "u16") if name.startswith("u16") \
        else ("float", "f32")
    grey = image.get_base_type() == Gimp.ImageBaseType.GRAY
    comps = ("Y'" if grey else "R'G'B'") + ("A" if drawable.has_alpha() else "")
    channels = (1 if grey else 3) + (1 if drawable.has_alpha() else 0)
    return "%s %s" % (comps, babl_type), dtype, channels


BYTES_PER_SAMPLE = {"u8": 1, "u16": 2, "f32": 4}


class Strips:
    """A drawable's pixels as the worker's request reads them: the length up front, then strips of
    tile rows, each fetched from GIMP only when the one before has been sent (protocol.send). The
    worker receives one strip while GIMP hands over the next, and no whole-layer copy is made in
    this process: at 2048 x 2048 reading and sending took ~37 ms instead of ~55 in a fresh plug-in
    process (timestamps on both sides of the call).
    Read once; the GEGL buffer is let go after the last strip, so its tiles' memory is free for the
    result's."""

    # GIMP's tile height in its core; libgimp's buffers here have 128-row tiles: every other strip is cached
    ROWS = 64

    def __init__(self, buffer, x, y, w, h, fmt, dtype, channels):
        self.buffer, self.x, self.y, self.w, self.h, self.fmt = buffer, x, y, w, h, fmt
        self.size = w * h * channels * BYTES_PER_SAMPLE[dtype]
        self.seconds = 0.0  # time spent fetching from GIMP, for the timing line

    def __len__(self):
        return self.size

    def __iter__(self):
        for top in range(0, self.h, self.ROWS):
            t0 = time.perf_counter()
            rect = Gegl.Rectangle.new(self.x, self.y + top, self.w, min(self.ROWS, self.h - top))
            strip = self.buffer.get(rect, 1.0, self.fmt, Gegl.AbyssPolicy.NONE)
            self.seconds += time.perf_counter() - t0
            yield strip
        self.buffer = None


def limit_tile_cache(image, drawables):
    """Keep this process's GEGL tile cache to two rows of tiles of the widest drawable it reads or
    writes. libgimp gives a plug-in GIMP's own cache size (gigabytes), so every tile of the layer, the
    selection and the new layer would stay cached, each in memory this process touches for the first
    time (~1 ms per MB in a new process here). With the cache this small, tiles leave it as soon as
    they are copied (clean ones dropped, new ones sent to GIMP) and their memory is reused for the next:
    reading a 2048 x 2048 RGB layer took ~23 ms instead of ~30 (bench/bench_gimp.py). Two rows of
    tiles hold every tile a strip of Strips touches, so none is fetched twice."""
    tile_w, tile_h = Gimp.tile_width(), Gimp.tile_height()
    selection_bpp = image.get_selection().get_bpp()
    # + one tile: a layer offset from the tile grid straddles one more
    row_of_tiles = max((d.get_width() + tile_w) * tile_h * max(d.get_bpp(), selection_bpp) for d in drawables)
    Gegl.config().props.tile_cache_size = 2 * row_of_tiles


def read_layer(image, drawable):
    fmt, dtype, channels = pixel_format(image, drawable)
    w, h = drawable.get_width(), drawable.get_height()
    data = Strips(drawable.get_buffer(), 0, 0, w, h, fmt, dtype, channels)
    return {"width": w, "height": h, "channels": channels, "dtype": dtype}, data, fmt


def read_selection(image, drawable):
    """The selection over the layer's area (coverage), or None when nothing is selected."""
    if Gimp.Selection.is_empty(image):
        return None, None
    _, ox, oy = drawable.get_offsets()
    w, h = drawable.get_width(), drawable.get_height()
    _, _, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    if x2 <= ox or y2 <= oy or x1 >= ox + w or y1 >= oy + h:
        raise client.WorkerError("The selection does not touch the active layer. Select part of the layer, "
                                 "or Select > None to work on the whole layer.")
    fmt, dtype = selection_format(image)
    data = Strips(image.get_selection().get_buffer(), ox, oy, w, h, fmt, dtype, 1)
    return {"width": w, "height": h, "channels": 1, "dtype": dtype}, data


def read_sample_from(image, drawable, channel):
    """The "Sample from" channel over the layer's area, read as the selection is (as stored: Y u8/u16 or
    float, the worker scales it), as (spec, bytes); (None, None) when none is chosen. A channel of
    another image (the chooser lists every open image's) is refused: its pixels would not line up."""
    if channel is None:
        return None, None
    if channel.get_image().get_id() != image.get_id():
        raise client.WorkerError("The 'Sample from' channel \u201c%s\u201d belongs to another image. Choose a "
                                 "channel of this image (Select > Save to Channel makes one from a "
                                 "selection)." % channel.get_name())
    _, ox, oy = drawable.get_offsets()
    w, h = drawable.get_width(), drawable.get_height()
    fmt, dtype = selection_format(image)
    data = Strips(channel.get_buffer(), ox, oy, w, h, fmt, dtype, 1)  # outside the image: 0, not sampled
    return {"width": w, "height": h, "channels": 1, "dtype": dtype}, b"".join(bytes(strip) for strip in data)


def selection_format(image):
    """The selection as GIMP stores it (linear Y at the image's precision): read as is, no conversion.
    Asking for "Y float" from an 8-bit selection made babl search a conversion path in every new
    plug-in process: 0.2-0.45 s of a 600 x 400 fill against 0.003 s as stored. The worker scales
    integer coverage to 0..1."""
    name = image.get_precision().value_nick
    return ("Y u8", "u8") if name.startswith("u8") else ("Y u16", "u16") if name.startswith("u16") \
        else ("Y float", "f32")


def layer_type(image, drawable):
    grey = image.get_base_type() == Gimp.ImageBaseType.GRAY
    if drawable.has_alpha():
        return Gimp.ImageType.GRAYA_IMAGE if grey else Gimp.ImageType.RGBA_IMAGE
    return Gimp.ImageType.GRAY_IMAGE if grey else Gimp.ImageType.RGB_IMAGE


def write_result(image, drawable, fmt, data, output, name):
    """New layer directly above the source (same offsets and type), or in place via the shadow
    buffer; either way one undo step."""
    w, h = drawable.get_width(), drawable.get_height()
    rect = Gegl.Rectangle.new(0, 0, w, h)
    image.undo_group_start()
    try:
        if output == "in-place":
            # the core's result is already blended through the selection; merge_shadow would blend
            # it through the selection a second time (feathered edges twice as soft), so the selection
            # is set aside for the merge and put back, all inside this one undo group
            saved = None if Gimp.Selection.is_empty(image) else Gimp.Selection.save(image)
            Gimp.Selection.none(image)
            shadow = drawable.get_shadow_buffer()
            shadow.set(rect, fmt, data)
            shadow.flush()
            drawable.merge_shadow(True)
            if saved is not None:
                Gimp.context_push()
                Gimp.context_set_antialias(False)
                Gimp.context_set_feather(False)
                image.select_item(Gimp.ChannelOps.REPLACE, saved)
                Gimp.context_pop()
                image.remove_channel(saved)
            drawable.update(0, 0, w, h)
            return drawable
        layer = Gimp.Layer.new(image, name, w, h, layer_type(image, drawable), 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, drawable.get_parent(), image.get_item_position(drawable))
        _, ox, oy = drawable.get_offsets()
        layer.set_offsets(ox, oy)
        buf = layer.get_buffer()
        buf.set(rect, fmt, data)
        buf.flush()
        layer.update(0, 0, w, h)
        return layer
    finally:
        image.undo_group_end()


def read_style_drawable(layer):
    w, h = layer.get_width(), layer.get_height()
    data = layer.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, "R'G'B' u8", Gegl.AbyssPolicy.NONE)
    return {"width": w, "height": h, "channels": 3, "dtype": "u8"}, data


def read_style_file(gfile):
    img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, gfile)
    try:
        merged = img.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
        return read_style_drawable(merged)
    finally:
        img.delete()


# --- the procedures --------------------------------------------------------------------------

_ui_ready = False


def refusal(name, image, drawables, config):
    """Why OK cannot run with these inputs (the dialog says so and keeps OK off), or None."""
    if name == FILL and Gimp.Selection.is_empty(image):
        return ("Nothing is selected. Close this dialog, select the object to remove (e.g. with the Free "
                "Select tool), then open it again.")
    if name == STYLIZE_WITH and config.get_property("style-layer") is None \
            and config.get_property("style-file") is None:
        return "Choose a layer or an image file to copy the style from."
    return None


def show_dialog(procedure, config, image, drawables):
    global _ui_ready
    gi.require_version("GimpUi", "3.0")
    gi.require_version("Gtk", "3.0")
    from gi.repository import GimpUi, Gtk
    if not _ui_ready:  # once per process
        GimpUi.init("sfumato")
        _ui_ready = True
    name = procedure.get_name()
    # GIMP's own dialogs are titled without the menu's "..."
    title = LABELS.get(name, procedure.get_menu_label()).replace("_", "").rstrip(".")
    dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config, title=title)
    dialog.set_wmclass(name, "Gimp")  # so a test (or a window manager rule) finds this dialog
    for spec in procedure.get_arguments():  # GIMP's slider spin-scales for the numbers, as its own filters
        if spec.value_type in (GObject.TYPE_INT, GObject.TYPE_DOUBLE) and spec.name != "run-mode":
            dialog.get_spin_scale(spec.name, 1.0)
    dialog.fill(None)
    # GIMP's Help opens its user manual, which has no page for a plug-in (and is often not installed)
    help_button = dialog.get_widget_for_response(Gtk.ResponseType.HELP)
    if help_button is not None:
        help_button.set_no_show_all(True)
        help_button.hide()
    note = Gtk.Label(xalign=0.0, wrap=True, max_width_chars=50)
    note.set_no_show_all(True)
    dialog.get_content_area().pack_start(note, False, False, 6)
    dialog.get_content_area().reorder_child(note, 0)

    def check(*_):
        why = refusal(name, image, drawables, config)
        note.set_markup("<b>%s</b>" % GLib.markup_escape_text(why) if why else "")
        note.set_visible(bool(why))
        dialog.set_response_sensitive(Gtk.ResponseType.OK, why is None)
    if name == STYLIZE_WITH:
        config.connect("notify::style-layer", check)
        config.connect("notify::style-file", check)
    check()
    preview = None
    if name != FRAMES and len(drawables) == 1 and isinstance(drawables[0], Gimp.Layer) \
            and not (name == FILL and Gimp.Selection.is_empty(image)):
        preview = make_preview(name, image, drawables[0], config)
        dialog.get_content_area().pack_start(preview.widget, False, False, 6)
        dialog.get_content_area().reorder_child(preview.widget, 1)
        preview.widget.show_all()
        config.connect("notify", preview.changed)
        preview.changed()
    if name in (STYLIZE, FRAMES):
        gallery = make_gallery(config)
        dialog.get_content_area().pack_start(gallery, False, False, 6)
        dialog.get_content_area().reorder_child(gallery, 2 if preview is not None else 1)
        gallery.show_all()
    ok = dialog.run()
    if preview is not None:
        preview.close()
    dialog.destroy()
    return ok


THUMBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "thumbs")  # export/style_thumbs.py
THUMB = 72


def make_gallery(config):
    """The style picker: a strip of thumbnails of the styles (the sample photo in each style, made by
    `python -m sfumato.export build thumbs`), sorted as the Style list; picking one sets Style, and it
    follows the Style list when the user picks there. A style without a thumbnail (one the user
    trained) shows its name alone."""
    from gi.repository import GdkPixbuf, Gtk
    try:
        names = client.load_config().get("styles") or []
    except client.WorkerError:
        names = []
    box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=2)
    flow = Gtk.FlowBox(orientation=Gtk.Orientation.VERTICAL, min_children_per_line=1, max_children_per_line=1,
                       selection_mode=Gtk.SelectionMode.SINGLE, homogeneous=True, column_spacing=2)
    flow.set_activate_on_single_click(True)
    title = Gtk.Label(xalign=0.0)
    title.set_markup_with_mnemonic("Style _gallery <small>(click one to use it)</small>")
    title.set_mnemonic_widget(flow)
    box.pack_start(title, False, False, 0)
    tiles = {}
    for item in sorted(names):
        label = item.replace("-", " ").capitalize()
        tile = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=1)
        path = os.path.join(THUMBS, item + ".jpg")
        if os.path.exists(path):
            image = Gtk.Image.new_from_pixbuf(GdkPixbuf.Pixbuf.new_from_file_at_size(path, THUMB, THUMB))
        else:
            image = Gtk.Image()
            image.set_size_request(THUMB, THUMB)
        tile.pack_start(image, False, False, 0)
        text = Gtk.Label(label=label, wrap=True, lines=2, max_width_chars=9, justify=Gtk.Justification.CENTER)
        text.set_ellipsize(3)  # Pango.EllipsizeMode.END
        text.set_size_request(THUMB, -1)
        tile.pack_start(text, False, False, 0)
        child = Gtk.FlowBoxChild()
        child.add(tile)
        child.set_tooltip_text(label)
        flow.add(child)
        tiles[item] = child
    scroll = Gtk.ScrolledWindow()
    scroll.set_policy(Gtk.PolicyType.AUTOMATIC, Gtk.PolicyType.NEVER)
    scroll.set_shadow_type(Gtk.ShadowType.IN)
    scroll.set_min_content_height(THUMB + 44)
    scroll.add(flow)
    box.pack_start(scroll, False, False, 0)
    busy = []

    def show_current(*_):
        """Select the tile of the config's style and scroll it into view."""
        child = tiles.get(config.get_property("style"))
        if child is None or busy:
            return
        busy.append(1)
        try:
            flow.select_child(child)
        finally:
            busy.pop()
        alloc = child.get_allocation()
        if alloc.width > 1:
            adj = scroll.get_hadjustment()
            if alloc.x < adj.get_value() or alloc.x + alloc.width > adj.get_value() + adj.get_page_size():
                adj.set_value(min(alloc.x - (adj.get_page_size() - alloc.width) / 2,
                                  adj.get_upper() - adj.get_page_size()))

    def picked(*_):
        chosen = flow.get_selected_children()
        if busy or not chosen:
            return
        item = next(n for n, c in tiles.items() if c is chosen[0])
        if item != config.get_property("style"):
            busy.append(1)
            try:
                config.set_property("style", item)
            finally:
                busy.pop()

    def style_changed(*_):
        print("[sfumato] style %s" % config.get_property("style"), file=sys.stderr, flush=True)
        show_current()

    def mapped(*_):
        show_current()
        # where the strip is in the dialog's window, for the GUI test that clicks a thumbnail
        found = scroll.translate_coordinates(scroll.get_toplevel(), 0, 0)
        if found:
            a = scroll.get_allocation()
            print("[sfumato] gallery %dx%d+%d+%d" % (a.width, a.height, found[0], found[1]), file=sys.stderr,
                  flush=True)
        return False

    flow.connect("selected-children-changed", picked)
    config.connect("notify::style", style_changed)
    scroll.connect("map", lambda *_: GLib.timeout_add(300, mapped))
    show_current()
    return box


def make_preview(name, image, layer, config):
    """The dialog's live preview (sfumato_preview.py), fed the layer and selection as the final call reads
    them, read once here."""
    import sfumato_preview
    spec, pixels, _ = read_layer(image, layer)
    data = b"".join(bytes(strip) for strip in pixels)
    mask = None
    w, h = spec["width"], spec["height"]
    focus = (0, 0, w, h)
    if not Gimp.Selection.is_empty(image):
        try:
            mask_spec, strips = read_selection(image, layer)
        except client.WorkerError:  # off the layer: the preview shows the message the call would give
            mask_spec, strips = None, None
        if strips is not None:
            mask = (mask_spec, b"".join(bytes(strip) for strip in strips))
            _, ox, oy = layer.get_offsets()
            _, _, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
            focus = (max(0, x1 - ox), max(0, y1 - oy), min(w, x2 - ox) - max(0, x1 - ox),
                     min(h, y2 - oy) - max(0, y1 - oy))
    return sfumato_preview.Preview(spec, data, mask, focus, lambda header, buffers: REQUESTS[name](
        config, header, buffers, image, layer), region_supported=name != FILL)


def success(procedure, layer):
    """SUCCESS with the result layer as the procedure's return value."""
    retval = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    retval.remove(1)
    retval.insert(1, GObject.Value(Gimp.Layer, layer))
    return retval


def error(procedure, message):
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


def style_spec(config):
    """The style the worker is asked for: the Blend text when set (scripts), else Style, mixed with the
    second style by the Mix amount when one is picked."""
    blend = (config.get_property("blend") or "").strip()
    if blend:
        return blend
    style, second, mix = (config.get_property(k) for k in ("style", "mix-style", "mix"))
    if second == NO_STYLE or second == style or mix <= 0.0:
        return style
    if mix >= 1.0:
        return second
    return "%s:%.4g,%s:%.4g" % (style, 1.0 - mix, second, mix)


def stylize_request(config, header, buffers, *_):
    header["op"] = "stylize"
    header["options"] = {"style": style_spec(config), **_stylize_options(config)}
    spec = header["options"]["style"]
    return spec.replace("-", " ").title() if ":" not in spec else "Blend"


def stylize_with_request(config, header, buffers, *_):
    layer, gfile = config.get_property("style-layer"), config.get_property("style-file")
    if layer is None and gfile is None:
        raise client.WorkerError("Choose a style layer or a style image file.")
    style_spec, style_pixels = read_style_drawable(layer) if layer is not None else read_style_file(gfile)
    header["op"], header["options"] = "stylize", _stylize_options(config)
    header["style_image"], header["layout"] = style_spec, header["layout"] + ["style_image"]
    buffers.append(style_pixels)
    return layer.get_name() if layer is not None else os.path.splitext(gfile.get_basename())[0]


def fill_request(config, header, buffers, image, layer):
    if "mask" not in header:
        raise client.WorkerError("The selection is empty: select the area to fill first (e.g. with the "
                                 "Free Select tool around the object to remove).")
    header["op"] = "inpaint"
    header["options"] = {"model": config.get_property("model"), **schema_values(config, "inpaint")}
    area_spec, area = read_sample_from(image, layer, config.get_property("sample-from"))
    if area is not None:  # the worker checks it as the CLI does (its size, pixels outside the hole)
        header["sample_from"], header["layout"] = area_spec, header["layout"] + ["sample_from"]
        buffers.append(area)
    return "Filled"


def _stylize_options(config):
    return schema_values(config, "stylize")


REQUESTS = {STYLIZE: stylize_request, STYLIZE_WITH: stylize_with_request, FILL: fill_request}


def flush_displays(run_mode):
    """Redraw the image windows after a call from the menus; a script flushes when it is done (GIMP's own
    plug-ins do the same): at 2048 x 2048 the flush is ~90 ms of GIMP's time after every call."""
    if run_mode != Gimp.RunMode.NONINTERACTIVE:
        Gimp.displays_flush()


def run_frames(procedure, run_mode, image, config):
    """Every top-level layer is a frame (the bottom one first, as GIMP's animation playback has it);
    all are stylized with one set of statistics, each into a new layer above it, as one undo step."""
    layers = [l for l in reversed(image.get_layers()) if not l.is_group()]
    if not layers:
        return error(procedure, "The image has no layers to use as frames.")
    limit_tile_cache(image, layers)
    try:
        header, buffers, formats = {"op": "stylize_frames", "layout": []}, [], []
        for i, layer in enumerate(layers):
            spec, pixels, fmt = read_layer(image, layer)
            header["frame%d" % i] = spec
            header["layout"].append("frame%d" % i)
            buffers.append(pixels)
            formats.append(fmt)
        header["options"] = {"style": style_spec(config), **_stylize_options(config)}
        Gimp.progress_init("Sfumato: stylizing %d frames" % len(layers))
        _, out = client.request(header, buffers, Gimp.progress_update, Gimp.progress_set_text)
        image.undo_group_start()
        try:
            top = None
            for layer, fmt, data in zip(layers, formats, out):
                top = write_result(image, layer, fmt, data, "new-layer", "%s \u2014 Sfumato" % layer.get_name())
        finally:
            image.undo_group_end()
        Gimp.progress_end()
        flush_displays(run_mode)
    except client.WorkerError as exc:
        return error(procedure, str(exc))
    return success(procedure, top)


def run(procedure, run_mode, image, drawables, config, data):
    try:
        return _run(procedure, run_mode, image, drawables, config)
    except Exception as exc:  # noqa: BLE001 - a bug is one message for the user, not a traceback
        import traceback
        traceback.print_exc()
        return error(procedure, "Sfumato: unexpected error (%s: %s); please report it" % (type(exc).__name__, exc))


def _run(procedure, run_mode, image, drawables, config):
    name = procedure.get_name()
    if run_mode == Gimp.RunMode.INTERACTIVE and not show_dialog(procedure, config, image, drawables):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    if name == FRAMES:
        return run_frames(procedure, run_mode, image, config)
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
        return procedure.new_return_values(Gimp.PDBStatusType.CALLING_ERROR,
                                           GLib.Error("Select exactly one layer."))
    drawable = drawables[0]
    limit_tile_cache(image, drawables)
    try:
        t0 = time.perf_counter()
        spec, pixels, fmt = read_layer(image, drawable)
        header, buffers = {"image": spec, "layout": ["image"]}, [pixels]
        mask_spec, mask = read_selection(image, drawable)
        if mask is not None:
            header["mask"], header["layout"] = mask_spec, header["layout"] + ["mask"]
            buffers.append(mask)
        label = REQUESTS[name](config, header, buffers, image, drawable)
        t_read = time.perf_counter() - t0
        Gimp.progress_init("Sfumato: %s" % ("filling" if name == FILL else "stylizing"))
        result, out = client.request(header, buffers, Gimp.progress_update, Gimp.progress_set_text,
                                     # the fill reports no fractions: a pulsing bar shows it runs
                                     Gimp.progress_pulse if name == FILL else None)
        t1 = time.perf_counter()
        # the layer and the selection are read from GIMP strip by strip as they are sent: timed apart
        t_read += sum(b.seconds for b in buffers if isinstance(b, Strips))
        layer = write_result(image, drawable, fmt, out[0], config.get_property("output"),
                             "%s \u2014 Sfumato" % label)
        Gimp.progress_end()
        flush_displays(run_mode)
        print("[sfumato] %s %dx%d: read %.3fs, worker %.3fs (model %.3fs), write %.3fs, plug-in pid %d"
              % (name, spec["width"], spec["height"], t_read, t1 - t0 - t_read, result.get("seconds", 0),
                 time.perf_counter() - t1, os.getpid()), file=sys.stderr, flush=True)
    except client.WorkerError as exc:
        return error(procedure, str(exc))
    return success(procedure, layer)


def schema(operation):
    """The options of an operation as `sfumato gimp install` wrote them from core/options.py."""
    try:
        return client.load_config().get("options", {}).get(operation, [])
    except client.WorkerError:
        return []


def add_schema_arguments(procedure, operation, flags):
    for o in schema(operation):
        label, doc = o["label"], o.get("tooltip") or o["help"][:1].upper() + o["help"][1:]
        if o["type"] == "bool":
            procedure.add_boolean_argument(o["gimp"], label, doc, o["default"], flags)
        elif o["type"] == "int":
            procedure.add_int_argument(o["gimp"], label, doc, o["min"], o["max"], o["default"], flags)
        else:
            procedure.add_double_argument(o["gimp"], label, doc, o["min"], o["max"], o["default"], flags)


def schema_values(config, operation):
    """{option name: the procedure's value} for the request."""
    return {o["name"]: config.get_property(o["gimp"]) for o in schema(operation)}


def config_choice(key, fallback, preferred=(), first=None):
    """A Gimp.Choice of the names the installer recorded (styles, inpainting models), sorted by label,
    after `first` (nick, label) when given; the default is the first of `preferred` that is installed,
    else the installer's first name."""
    choice = Gimp.Choice.new()
    if first is not None:
        choice.add(first[0], -1, first[1], "")
    try:
        names = client.load_config().get(key) or [fallback]
    except client.WorkerError:
        names = [fallback]
    for i, item in sorted(enumerate(names), key=lambda p: p[1]):
        choice.add(item, i, item.replace("-", " ").capitalize(), "")
    return choice, next((p for p in preferred if p in names), names[0])


def output_choice():
    choice = Gimp.Choice.new()
    choice.add("new-layer", 0, "New layer above", "")
    choice.add("in-place", 1, "In place (undoable)", "")
    return choice


MENU = "<Image>/Filters/Sfumato"
NO_STYLE = "none"  # Mix with: no second style
LABELS = {FILL: "_Remove Object / Fill Selection...", STYLIZE: "_Stylize...",
          STYLIZE_WITH: "Stylize Like an _Image...", FRAMES: "Stylize Animation _Frames..."}


def add_menu(procedure, label):
    """Label first: GIMP drops a menu path added before the label (a CRITICAL, and no menu entry)."""
    procedure.set_menu_label(label)
    procedure.add_menu_path(MENU)


def make_procedure(plugin, name):
    """One of the menu procedures: a plug-in procedure, a process per call."""
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    add_menu(procedure, LABELS[name])
    procedure.set_attribution("Sfumato", "Sfumato", "2026")
    flags = GObject.ParamFlags.READWRITE
    if name == FILL:
        procedure.set_documentation("Remove what is selected and fill the hole from its surroundings",
                                    "Removes what is selected (an object, a scratch, a blemish) and fills the "
                                    "area with content made up from the picture around it.", name)
        choice, default = config_choice("inpaint_models", "sfumato-inpaint")
        procedure.add_choice_argument("model", "_Model", "The fill model", choice, default, flags)
        add_schema_arguments(procedure, "inpaint", flags)
        procedure.add_channel_argument("sample-from", "S_ample from (optional)",
                                       "Where the fill may copy texture from, for large areas: a channel of this "
                                       "image, white where copying is allowed (make one by selecting that part "
                                       "and choosing Select > Save to Channel). Leave it empty to copy from "
                                       "anywhere around the hole.", True, flags)
        procedure.add_choice_argument("output", "_Put result", "Where the result goes: a new layer above this "
                                      "one, or into this layer (undo with Ctrl+Z)", output_choice(), "new-layer",
                                      flags)
        procedure.add_layer_return_value("result-layer", "Result layer", "The layer holding the result", False,
                                          flags)
        return procedure
    if name in (STYLIZE, FRAMES):
        if name == STYLIZE:
            procedure.set_documentation("Repaint the layer in a built-in painting style",
                                        "Stylizes the selection (soft edges honoured) or the whole layer.", name)
        else:
            procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE
                                           | Gimp.ProcedureSensitivityMask.DRAWABLES
                                           | Gimp.ProcedureSensitivityMask.NO_DRAWABLES)
            procedure.set_documentation("Stylize every layer of an animation alike",
                                        "Each layer is a frame: all are stylized with the same normalisation "
                                        "statistics (no flicker), each into a new layer above it, as one undo "
                                        "step.", name)
        choice, default = config_choice("styles", "starry-blue", ("starry-night", "starry-blue"))
        procedure.add_choice_argument("style", "St_yle", "The painting style", choice, default, flags)
        second, _ = config_choice("styles", "starry-blue", first=(NO_STYLE, "None"))
        procedure.add_choice_argument("mix-style", "_Mix with", "A second style to blend in (None: Style alone)",
                                      second, NO_STYLE, flags)
        procedure.add_double_argument("mix", "Mi_x amount", "How much of the second style: 0 is Style alone, 1 "
                                      "the second style alone (0 to 1)", 0.0, 1.0, 0.5, flags)
        procedure.add_string_argument("blend", "_Blend (optional)",
                                      "For scripts: several styles by weight, e.g. starry-blue:0.7,crimson:0.3 "
                                      "(names as in the Style list, lower case with dashes); when set it replaces "
                                      "Style and Mix with",
                                      "", flags)
    else:
        procedure.set_documentation("Repaint the layer in the style of another picture",
                                    "The style comes from a layer of any open image, or from an image file.", name)
        procedure.add_layer_argument("style-layer", "Style from la_yer", "A layer of any open image whose look "
                                     "to copy", True, flags)
        procedure.add_file_argument("style-file", "Or from image _file", "An image file whose look to copy "
                                    "(used when no layer is chosen)", Gimp.FileChooserAction.OPEN, True, None, flags)
    add_schema_arguments(procedure, "stylize", flags)
    if name != FRAMES:  # frames always go to new layers
        procedure.add_choice_argument("output", "_Put result", "Where the result goes: a new layer above this "
                                      "one, or into this layer (undo with Ctrl+Z)", output_choice(), "new-layer",
                                      flags)
    procedure.add_layer_return_value("result-layer", "Result layer", "The layer holding the result (frames: the "
                                     "top one)", False, flags)
    return procedure


class Sfumato(Gimp.PlugIn):
    """Each call is a process of its own, which GIMP's Cancel ends harmlessly (the worker stays warm).
    There is no resident mode (one process GIMP starts at launch, the filters its temporary
    procedures): in GIMP 3.0's window the menus of temporary procedures registered at launch fail
    (Gimp-Widgets-CRITICAL), a Cancel kills that process and its filters with it, and starting it
    again brings them back in the PDB but never in the menus (GIMP logs "action which doesn't
    exist"). It saved ~80 ms of a call of seconds."""

    def do_set_i18n(self, procname):
        return False

    def do_query_procedures(self):
        return list(MENU_PROCEDURES)

    def do_create_procedure(self, name):
        return make_procedure(self, name)


def main(argv):
    Gimp.main(Sfumato.__gtype__, argv)
