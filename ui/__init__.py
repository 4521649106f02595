"""The chat app's UI: model manager (LRU of loaded models), event rendering, handlers, and the Gradio layout.

Run it with: python app.py
"""
