# VividVR plugin folder: Nuke runs this only with a GUI. Nodes > VividVR > Restore.
import vividvr_nuke

vividvr_nuke.add_menu()
