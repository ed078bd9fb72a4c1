# VividVR plugin folder: Nuke runs this in every mode (GUI, terminal, render), after
# `nuke.pluginAddPath` put this folder on the plugin path and sys.path.
import vividvr_nuke

vividvr_nuke.register()
