"""jupyter_kernel_test conformance suite for the esa kernel, every sample set.

Run through run.sh (it builds esa and installs the kernelspec into a temp
prefix); by hand: JUPYTER_PATH=... ESA_KERNEL_NAME=esa timeout 300 /usr/bin/python3 -m unittest -v test_esa_kernel
"""
import os
import unittest

import jupyter_kernel_test as jkt


class EsaKernelTests(jkt.KernelTests):
    kernel_name = os.environ.get("ESA_KERNEL_NAME", "esa")
    language_name = "go"
    file_extension = ".go"
    code_hello_world = 'import "fmt"\nfmt.Println("hello, world")'
    code_stderr = 'import "fmt"\nimport "os"\nfmt.Fprintln(os.Stderr, "oops")'
    completion_samples = [{"text": "fmt.Sprin", "matches": {"Sprint", "Sprintf", "Sprintln"}}]
    complete_code_samples = ["x := 1", "func f() {}"]
    incomplete_code_samples = ["func f() {", "for i := 0; i < 3;"]
    invalid_code_samples = ["x := )", "}"]
    code_page_something = "%doc fmt.Println"
    code_generate_error = 'panic("boom")'
    code_execute_result = [{"code": "6*7", "result": "42"}, {"code": "1+2", "result": "3"}, {"code": "\"a\"+\"b\"", "result": '"ab"'}]
    code_display_data = [{"code": 'import "display"\ndisplay.HTML("<b>hi</b>")', "mime": "text/html"}]
    code_history_pattern = "6*7"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "fmt.Println"
    code_clear_output = 'import "display"\ndisplay.Clear()'
if __name__ == "__main__":
    unittest.main()
