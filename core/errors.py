class SfumatoError(Exception):
    """Bad input or an unusable environment. The message names the problem and what to do;
    the CLI prints it as one `error: ...` line and exits with code 2."""
