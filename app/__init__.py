"""Reverie's desktop player (PySide6).

Models without Qt (settings, input maps, input state, audio synth, recorder), views in Qt
(window, frame view, gallery), and one worker QObject on a QThread that owns the world
session (app/worker.py): the only module that calls into model.play.runtime / model.play.timeline.
"""
