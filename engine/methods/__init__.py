"""Segmentation methods: one module per paper family, each registered under a stable name."""

from .base import Method, MethodInfo, available_methods, create_method, method_info, register_method

__all__ = ["Method", "MethodInfo", "available_methods", "create_method", "method_info", "register_method"]
