#include "noticebar.h"

#include "statestyle.h"

#include <QEvent>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

namespace {

QColor mix(const QColor &a, const QColor &b, double t)
{
    return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * t),
                            float(a.greenF() + (b.greenF() - a.greenF()) * t),
                            float(a.blueF() + (b.blueF() - a.blueF()) * t));
}

} // namespace

NoticeBar::NoticeBar(QWidget *parent)
    : QWidget(parent)
    , m_layout(new QVBoxLayout(this))
{
    setObjectName(QStringLiteral("noticeBar"));
    m_layout->setContentsMargins(0, 0, 0, 0);
    m_layout->setSpacing(4);
    hide();
}

void NoticeBar::addNotice(const QString &text)
{
    if (notices().contains(text))
        return;
    while (m_notices.size() >= MaxNotices)
        remove(m_notices.constFirst());
    QFrame *notice = makeFrame(text, false);
    m_layout->addWidget(notice);
    m_notices.append(notice);
    show();
}

// A notice (with its close button) or an error (red, without one) showing `text`.
QFrame *NoticeBar::makeFrame(const QString &text, bool error)
{
    auto *notice = new QFrame(this);
    notice->setObjectName(error ? QStringLiteral("error") : QStringLiteral("notice"));
    auto *layout = new QHBoxLayout(notice);
    layout->setContentsMargins(8, 4, 4, 4);
    layout->setSpacing(8);

    auto *icon = new QLabel(notice);
    const int size = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
    icon->setPixmap(
        style()
            ->standardIcon(error ? QStyle::SP_MessageBoxCritical : QStyle::SP_MessageBoxWarning,
                           nullptr, this)
            .pixmap(size, size));
    icon->setAlignment(Qt::AlignTop);
    auto *label = new QLabel(notice);
    label->setObjectName(error ? QStringLiteral("errorText") : QStringLiteral("noticeText"));
    label->setTextFormat(Qt::PlainText);
    label->setText(text);
    label->setWordWrap(true);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(icon, 0, Qt::AlignTop);
    layout->addWidget(label, 1);
    if (!error) {
        auto *close = new QToolButton(notice);
        close->setObjectName(QStringLiteral("dismissNotice"));
        close->setAutoRaise(true);
        close->setIcon(style()->standardIcon(QStyle::SP_TitleBarCloseButton, nullptr, this));
        close->setToolTip(tr("Dismiss this notice"));
        close->setAccessibleName(tr("Dismiss notice"));
        connect(close, &QToolButton::clicked, this, [this, notice] { remove(notice); });
        layout->addWidget(close, 0, Qt::AlignTop);
    }
    restyle(notice, error);
    return notice;
}

void NoticeBar::setError(const QString &key, const QString &text)
{
    for (auto &[errorKey, frame] : m_errors) {
        if (errorKey == key) {
            frame->findChild<QLabel *>(QStringLiteral("errorText"))->setText(text);
            return;
        }
    }
    QFrame *frame = makeFrame(text, true);
    m_layout->insertWidget(int(m_errors.size()), frame);
    m_errors.append({key, frame});
    show();
}

void NoticeBar::clearError(const QString &key)
{
    for (qsizetype i = 0; i < m_errors.size(); ++i) {
        if (m_errors[i].first == key) {
            QFrame *frame = m_errors[i].second;
            m_errors.removeAt(i);
            frame->hide();
            frame->deleteLater();
            updateVisibility();
            return;
        }
    }
}

QStringList NoticeBar::errors() const
{
    QStringList texts;
    for (const auto &[key, frame] : m_errors)
        texts.append(frame->findChild<QLabel *>(QStringLiteral("errorText"))->text());
    return texts;
}

void NoticeBar::updateVisibility()
{
    setVisible(!m_notices.isEmpty() || !m_errors.isEmpty());
}

QStringList NoticeBar::notices() const
{
    QStringList texts;
    for (const QFrame *notice : m_notices)
        texts.append(notice->findChild<QLabel *>(QStringLiteral("noticeText"))->text());
    return texts;
}

void NoticeBar::dismiss(int index)
{
    if (index >= 0 && index < m_notices.size())
        remove(m_notices[index]);
}

void NoticeBar::dismissAll()
{
    while (!m_notices.isEmpty())
        remove(m_notices.constFirst());
}

void NoticeBar::remove(QFrame *notice)
{
    const qsizetype at = m_notices.indexOf(notice);
    if (at < 0)
        return;
    const QString text = notices().at(at);
    m_notices.removeAt(at);
    notice->hide();
    notice->deleteLater();
    updateVisibility();
    Q_EMIT dismissed(text);
}

void NoticeBar::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::PaletteChange) {
        for (QFrame *notice : std::as_const(m_notices))
            restyle(notice, false);
        for (const auto &[key, frame] : std::as_const(m_errors))
            restyle(frame, true);
    }
    QWidget::changeEvent(event);
}

// The window's own colours tinted with the warning amber of StateStyle (the red of a
// failed task for errors): dark text on a pale tint in light palettes, light text on a
// deep one in dark palettes.
void NoticeBar::restyle(QFrame *notice, bool error)
{
    const QPalette &pal = palette();
    const QColor accent = StateStyle::color(error ? TaskState::Failed : TaskState::TimedOut, pal);
    const double tint = (StateStyle::isDark(pal) ? 0.28 : 0.16) * (error ? 1.5 : 1.0);
    const QColor background = mix(pal.color(QPalette::Window), accent, tint);
    notice->setStyleSheet(QStringLiteral("QFrame#%4 { background-color: %1; "
                                         "border: %5px solid %2; border-radius: 4px; } "
                                         "QLabel { color: %3; }")
                              .arg(background.name(), accent.name(),
                                   pal.color(QPalette::WindowText).name(), notice->objectName(),
                                   error ? QStringLiteral("2") : QStringLiteral("1")));
}
