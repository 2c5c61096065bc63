"""The commands staff can send by mail, as the answers and the daily digest list them:
(form, what it does, an example). Kept apart from mailcommands so that the digest can list them
without importing the commands themselves."""

from __future__ import annotations

STATUS = (
    "trạng thái [mã chiến dịch]",
    "bảng các đơn vị và tài liệu đã nộp, đúng hạn hay trễ hạn",
    "trạng thái bau-cu-2021",
)
REVIEW = ("xem xét", "danh sách thư chờ xem xét, mỗi thư với mã XL và dòng trả lời để giao", "xem xét")
ASSIGN = (
    "giao <mã XL> <mã đơn vị> [mã tài liệu ...] [ghi nhớ]",
    "nhận thư là tài liệu của đơn vị (cấp số biên nhận, gửi thư xác nhận); “ghi nhớ”: từ nay nhận địa chỉ này",
    "giao XL-0002 viettel-dongthap duty-list",
)
DISMISS = (
    "bỏ qua <mã XL> [lý do]",
    "đóng một thư đã xử lý ngoài hệ thống, ghi lại lý do",
    "bỏ qua XL-0004 đã trả lời qua điện thoại",
)
ROSTER = (
    "danh sách trực [mã chiến dịch]",
    "danh sách trực tổng hợp của các đơn vị, kèm tệp Excel",
    "danh sách trực bau-cu-2021",
)
REMIND = (
    "nhắc [mã đơn vị]",
    "gửi ngay thư nhắc các tài liệu đã đến hạn hoặc quá hạn mà đơn vị chưa nộp (mỗi ngày một lần)",
    "nhắc vnpost-dongthap",
)
HELP = ("hướng dẫn", "danh sách các lệnh", "hướng dẫn")
MAX_AGE_DAYS = 3  # a command that changes something is obeyed within this many days of its Date
RULE = (
    "Lệnh giao, bỏ qua và nhắc chỉ được thực hiện khi là thư trả lời (Reply) thư báo cáo hằng ngày hoặc "
    f"thư trả lời lệnh của hộp thư, gửi trong vòng {MAX_AGE_DAYS} ngày; lệnh trong thư chuyển tiếp (Forward) "
    "không được thực hiện. Các lệnh hỏi (trạng thái, xem xét, danh sách trực, hướng dẫn) có thể gửi bằng thư mới."
)
ALL = (STATUS, REVIEW, ASSIGN, DISMISS, ROSTER, REMIND, HELP)


def listing() -> list[dict[str, str]]:
    return [{"form": form, "what": what, "example": example} for form, what, example in ALL]
