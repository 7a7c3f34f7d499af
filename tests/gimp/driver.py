# Runs INSIDE GIMP 3 (gimp-console --batch-interpreter=python-fu-eval), which has already imported
# Gimp, Gegl, Gio, GObject, GLib. Reads the cases in $SFUMATO_CASES (JSON list), runs each through
# the PDB exactly as a user's call would, and writes what happened to $SFUMATO_OUT for the pytest
# side to check with numpy: raw buffers (source before/after, result, selection) and a JSON record.
import json as _json
import os as _os
import time as _time


def _fmt(image, layer):
    name = image.get_precision().value_nick
    t = "u8" if name.startswith("u8") else "u16" if name.startswith("u16") else "float"
    grey = image.get_base_type() == Gimp.ImageBaseType.GRAY
    return ("Y'" if grey else "R'G'B'") + ("A" if layer.has_alpha() else "") + " " + t


def _dump(path, drawable, fmt):
    w, h = drawable.get_width(), drawable.get_height()
    with open(path, "wb") as f:
        f.write(bytes(drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt, Gegl.AbyssPolicy.NONE)))


def _case(case, out):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(case["image"]))
    if case.get("scale"):  # a bigger picture, so the job runs long enough to be interrupted
        image.scale(image.get_width() * case["scale"], image.get_height() * case["scale"])
    layer = image.get_layers()[0]
    for k, path in enumerate(case.get("frames", [])):  # more layers above: the frames of an animation
        extra = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path))
        extra.set_name("frame%d" % (k + 1))
        image.insert_layer(extra, None, 0)
    if case.get("precision") == "u16":
        image.convert_precision(Gimp.Precision.U16_NON_LINEAR)
    elif case.get("precision") == "float-linear":  # 32-bit float, linear light: GIMP converts to R'G'B' for us
        image.convert_precision(Gimp.Precision.FLOAT_LINEAR)
    if case.get("grey"):
        image.convert_grayscale()
    if case.get("offset"):
        dx, dy = case["offset"]
        image.resize(image.get_width() + 2 * dx, image.get_height() + 2 * dy, 0, 0)
        layer.set_offsets(dx, dy)
    kind, _, geo = case.get("selection", "none").partition(":")
    Gimp.context_push()
    Gimp.context_set_antialias(True)
    feather = float(case.get("feather", 0))
    Gimp.context_set_feather(feather > 0)
    Gimp.context_set_feather_radius(feather, feather)
    if kind == "ellipse":
        image.select_ellipse(Gimp.ChannelOps.REPLACE, *[float(v) for v in geo.split(",")])
    elif kind == "rect":
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *[float(v) for v in geo.split(",")])
    else:
        Gimp.Selection.none(image)
    Gimp.context_pop()

    fmt = _fmt(image, layer)
    cid = case["id"]
    layers_before = []
    for k, l in enumerate(image.get_layers()):
        _dump(_os.path.join(out, "%s.layer%d.before.raw" % (cid, k)), l, _fmt(image, l))
        layers_before.append({"name": l.get_name(), "width": l.get_width(), "height": l.get_height(),
                              "format": _fmt(image, l)})
    _dump(_os.path.join(out, cid + ".before.raw"), layer, fmt)
    _, ox, oy = layer.get_offsets()
    w, h = layer.get_width(), layer.get_height()
    with open(_os.path.join(out, cid + ".mask.raw"), "wb") as f:
        f.write(bytes(image.get_selection().get_buffer().get(Gegl.Rectangle.new(ox, oy, w, h), 1.0, "Y float",
                                                            Gegl.AbyssPolicy.NONE)))
    style_image = None
    proc = Gimp.get_pdb().lookup_procedure(case["proc"])
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    for key, value in case.get("args", {}).items():
        if key == "style-layer-from":
            style_image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(value))
            config.set_property("style-layer", style_image.get_layers()[0])
        elif key in ("sample-from-rect", "sample-from-other-image"):
            # as a user makes one: the area selected and saved with Select > Save to Channel, then the
            # hole selected again (in another image of the same size, for the refusal)
            owner = image
            if key == "sample-from-other-image":
                style_image = owner = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(case["image"]))
            hole = Gimp.Selection.save(image)
            owner.select_rectangle(Gimp.ChannelOps.REPLACE, *[float(v) for v in value.split(",")])
            area = Gimp.Selection.save(owner)
            area.set_name("sample area")
            image.select_item(Gimp.ChannelOps.REPLACE, hole)
            image.remove_channel(hole)
            config.set_property("sample-from", area)
        elif key == "style-file":
            config.set_property("style-file", Gio.File.new_for_path(value))
        else:
            config.set_property(key, value)
    if case.get("kill_worker_after"):
        _kill_worker_later(case["kill_worker_after"])
    if case.get("kill_plugin_after"):
        _kill_plugin_later(case["kill_plugin_after"])
    t0 = _time.time()
    result = proc.run(config)
    seconds = _time.time() - t0
    status = result.index(0)
    record = {"id": cid, "status": status.value_nick, "seconds": round(seconds, 3), "format": fmt,
              "width": w, "height": h, "offsets": [ox, oy], "precision": image.get_precision().value_nick,
              "layers_top_down": [l.get_name() for l in image.get_layers()], "layers_before": layers_before,
              "layers_after": [{"name": l.get_name(), "width": l.get_width(), "height": l.get_height(),
                                "format": _fmt(image, l)} for l in image.get_layers()]}
    if status == Gimp.PDBStatusType.SUCCESS:
        new = result.index(1)
        _, nx, ny = new.get_offsets()
        record.update(result_name=new.get_name(), result_offsets=[nx, ny],
                      result_size=[new.get_width(), new.get_height()], result_is_source=new == layer,
                      result_type=new.type().value_nick, source_type=layer.type().value_nick,
                      result_index=image.get_item_position(new), source_index=image.get_item_position(layer))
        _dump(_os.path.join(out, cid + ".result.raw"), new, fmt)
        with open(_os.path.join(out, cid + ".mask_after.raw"), "wb") as f:  # the user's selection, as it is now
            f.write(bytes(image.get_selection().get_buffer().get(Gegl.Rectangle.new(ox, oy, w, h), 1.0, "Y float",
                                                                Gegl.AbyssPolicy.NONE)))
        record["channels_after"] = len(image.get_channels())
        if case.get("frames"):  # every layer after the call, top down
            for k, l in enumerate(image.get_layers()):
                _dump(_os.path.join(out, "%s.layer%d.after.raw" % (cid, k)), l, _fmt(image, l))
    else:
        record["error"] = str(result.index(1)) if result.length() > 1 else ""
    _dump(_os.path.join(out, cid + ".source_after.raw"), layer, fmt)  # a failed call must leave it as it was
    if style_image is not None:
        style_image.delete()
    image.delete()
    return record


def _kill_worker_later(seconds):
    """A worker crash in the middle of a job: SIGKILL this GIMP's `python -m sfumato.service.worker` (the one
    running in this chroot's runtime folder, not any other on the machine) after a while."""
    _kill_later(seconds, lambda pid, cmdline: b"sfumato.service.worker" in cmdline and
                _os.readlink("/proc/%s/cwd" % pid) == "/tmp/sfumato-%d" % _os.getuid())


def _kill_plugin_later(seconds):
    """What GIMP's Cancel does (app/plug-in/gimpplugin-progress.c: gimp_plug_in_close, which sends
    GP_QUIT and SIGKILLs the plug-in's process): the call's plug-in process killed mid-job."""
    _kill_later(seconds, lambda pid, cmdline: b"plug-ins/sfumato/sfumato.py" in cmdline)


def _kill_later(seconds, match):
    import signal as _signal
    import threading as _threading

    def kill():
        _time.sleep(seconds)
        for pid in _os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    ours = match(pid, f.read())
                if ours:
                    _os.kill(int(pid), _signal.SIGKILL)
            except (OSError, ValueError):
                pass
    _threading.Thread(target=kill, daemon=True).start()


def _introspect(case):
    """Each procedure's arguments as GIMP sees them: name, default and range."""
    procs, types = {}, {}
    for name in case["introspect"]:
        args = []
        proc = Gimp.get_pdb().lookup_procedure(name)
        types[name] = proc.get_proc_type().value_nick
        for spec in proc.get_arguments():
            entry = {"name": spec.name}
            for attr in ("default_value", "minimum", "maximum"):
                value = getattr(spec, attr, None)
                if isinstance(value, (bool, int, float, str)):
                    entry[attr] = value
            args.append(entry)
        procs[name] = args
    return {"id": case["id"], "status": "success", "procs": procs, "types": types}


def _call(case):
    """A procedure without image arguments, run non-interactively: its status."""
    proc = Gimp.get_pdb().lookup_procedure(case["call"])
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    return {"id": case["id"], "status": proc.run(config).index(0).value_nick}


def _main():
    cases = _json.load(open(_os.environ["SFUMATO_CASES"]))
    out = _os.environ["SFUMATO_OUT"]
    records = []
    for case in cases:
        try:
            records.append(_introspect(case) if "introspect" in case else _call(case) if "call" in case
                           else _case(case, out))
        except Exception as exc:  # keep going: one broken case must not hide the others
            records.append({"id": case["id"], "status": "driver-exception", "error": repr(exc)})
        with open(_os.path.join(out, "records.json"), "w") as f:
            _json.dump(records, f, indent=1)
    print("SFUMATO-DRIVER-DONE", len(records), flush=True)


_main()
