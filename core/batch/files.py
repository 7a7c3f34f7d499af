"""One file of a stylize or inpaint run: read it, run the operation (here, or on a `sfumato serve`
server through core/service/remote.py's client, which the CLI passes in), write it. Picklable, for
--jobs processes and Ray actors; core/batch/runner.py calls one per task. numpy, Pillow and the networks
load inside the calls: the CLI starts a single file's model on a thread while the picture is read."""
from __future__ import annotations

from ..errors import SfumatoError


class StylizeFile:
    """One file of a stylize run (picklable, for --jobs), here or on a server. `ready`, for a single
    file only: waits for the session started in the background, once the photo is read."""

    def __init__(self, options, remote=None, ready=None):
        self.options, self.remote, self.ready = options, remote, ready

    def __call__(self, task, job=None) -> str:
        from ..imageio import check_output_holds, frames_in, read_image, read_mask, write_image
        from ..styling.pipeline import stylize
        if frames_in(task.source) > 1:
            return self.animation(task, frames_in(task.source), job)
        meta: dict = {}  # the colour profile and EXIF, carried to the output
        image = read_image(task.source, meta=meta)
        check_output_holds(task.output, image)
        mask = read_mask(task.mask, (image.shape[1], image.shape[0])) if task.mask else None
        if self.ready is not None:
            self.ready()
        if self.remote is not None:
            result = self.remote.stylize(image, self.options, mask)
        else:
            result = stylize(image, self.options, mask=mask, job=job)
        del image, mask  # large images: free the input before the encoder makes its own copy
        write_image(task.output, result, meta)
        return f"{result.shape[1]}x{result.shape[0]}"

    def animation(self, task, count: int, job=None) -> str:
        """An animation or multi-page file: every frame, with one set of statistics for the clip (the
        look cannot jump between frames), one --mask for all of them, written back with its timing."""
        from ..imageio import check_frames_output, read_frames, read_mask, write_frames
        from ..runtime.job import Job
        from ..styling.pipeline import clip_statistics, stylize
        if self.remote is not None:
            raise SfumatoError(f"{task.source} has {count} frames: --server runs single pictures; stylize it here")
        check_frames_output(task.output, count, task.source)
        meta: dict = {}
        frames, info = read_frames(task.source, meta=meta)
        size = (frames[0].shape[1], frames[0].shape[0])
        mask = read_mask(task.mask, size) if task.mask else None
        if self.ready is not None:
            self.ready()
        job = job or Job()
        shared = clip_statistics(frames, self.options, job, len(frames))
        out = [stylize(f, self.options, mask=mask, job=job, shared=shared) for f in frames]
        write_frames(task.output, out, info, meta)
        return f"{size[0]}x{size[1]}, {len(out)} frames"


class InpaintFile:
    """One file of an inpaint run (picklable, for --jobs), here or on a server. `ready`, for a single
    file only: waits for the model to be loaded in the background (re-raising why it could not be),
    called once the photo and mask are read, so reading overlaps loading. `sample_from`: the path of
    an area image (white = a large hole's texture may come from there), one for every file."""

    def __init__(self, options, remote=None, ready=None, sample_from=None):
        self.options, self.remote, self.ready, self.sample_from = options, remote, ready, sample_from

    def __call__(self, task, job=None) -> str:
        from ..imageio import check_output_holds, frames_in, read_image, read_mask, write_image
        if frames_in(task.source) > 1:  # one mask would not follow what moves; a mask per frame is a folder
            raise SfumatoError(f"{task.source} has {frames_in(task.source)} frames: inpainting fills one picture; "
                               "export the frames as images and run them as a folder with --mask-dir (a mask each)")
        meta: dict = {}
        image = read_image(task.source, meta=meta)
        check_output_holds(task.output, image)
        if not task.mask.exists():
            raise SfumatoError(f"no mask for it (looked for {task.mask})")
        mask = read_mask(task.mask, (image.shape[1], image.shape[0]))
        area = {}
        if self.sample_from is not None:  # its size and pixels are checked where every door's are: inpaint()
            from ..imageio import mask_from_array
            area["sample_from"] = mask_from_array(read_image(self.sample_from, "'sample from' area"))
        if self.ready is not None:
            self.ready()
        if self.remote is not None:
            write_image(task.output, self.remote.inpaint(image, mask, self.options, **area), meta)
        else:
            from ..inpainting.pipeline import inpaint
            write_image(task.output, inpaint(image, mask, self.options, job, **area), meta)
        return f"{image.shape[1]}x{image.shape[0]}"
