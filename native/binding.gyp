{
  "targets": [
    {
      "target_name": "alae_native",
      "sources": [
        "bindings/addon.cc", "bindings/matmul.cc", "bindings/conv.cc", "bindings/elementwise.cc", "bindings/fused.cc",
        "kernels/pool.cc", "kernels/gemm.cc", "kernels/matmul.cc", "kernels/conv.cc",
        "kernels/simd_pick.cc", "kernels/simd_generic.cc", "kernels/simd_avx2.cc", "kernels/simd_avx512.cc",
        "kernels/binary.cc", "kernels/unary.cc", "kernels/reduce.cc", "kernels/copy.cc", "kernels/depthwise.cc", "kernels/pooling.cc",
        "kernels/style_epilogue.cc", "kernels/instance_stats.cc", "kernels/leaky_twice.cc"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-O3", "-fno-math-errno", "-pthread"],
      "cflags_cc": ["-O3", "-std=gnu++17", "-fno-math-errno", "-pthread"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=gnu++17"],
        "MACOSX_DEPLOYMENT_TARGET": "10.15"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "Optimization": 2, "AdditionalOptions": ["/std:c++17"] }
      }
    }
  ]
}
