"""The GIMP 3 plug-in (folder `sfumato/`, copied into GIMP's plug-ins folder) and its installer."""
