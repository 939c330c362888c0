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

    auto *notice = new QFrame(this);
    notice->setObjectName(QStringLiteral("notice"));
    auto *layout = new QHBoxLayout(notice);
    layout->setContentsMargins(8, 4, 4, 4);
    layout->setSpacing(8);

    auto *icon = new QLabel(notice);
    const int size = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
    icon->setPixmap(
        style()->standardIcon(QStyle::SP_MessageBoxWarning, nullptr, this).pixmap(size, size));
    icon->setAlignment(Qt::AlignTop);
    auto *label = new QLabel(notice);
    label->setObjectName(QStringLiteral("noticeText"));
    label->setTextFormat(Qt::PlainText);
    label->setText(text);
    label->setWordWrap(true);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *close = new QToolButton(notice);
    close->setObjectName(QStringLiteral("dismissNotice"));
    close->setAutoRaise(true);
    close->setIcon(style()->standardIcon(QStyle::SP_TitleBarCloseButton, nullptr, this));
    close->setToolTip(tr("Dismiss this notice"));
    close->setAccessibleName(tr("Dismiss notice"));
    connect(close, &QToolButton::clicked, this, [this, notice] { remove(notice); });

    layout->addWidget(icon, 0, Qt::AlignTop);
    layout->addWidget(label, 1);
    layout->addWidget(close, 0, Qt::AlignTop);
    restyle(notice);
    m_layout->addWidget(notice);
    m_notices.append(notice);
    show();
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
    if (m_notices.isEmpty())
        hide();
    Q_EMIT dismissed(text);
}

void NoticeBar::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::PaletteChange)
        for (QFrame *notice : std::as_const(m_notices))
            restyle(notice);
    QWidget::changeEvent(event);
}

// The window's own colours tinted with the warning amber of StateStyle: dark text on a
// pale amber in light palettes, light text on a deep amber in dark ones.
void NoticeBar::restyle(QFrame *notice)
{
    const QPalette &pal = palette();
    const QColor amber = StateStyle::color(TaskState::TimedOut, pal);
    const QColor background =
        mix(pal.color(QPalette::Window), amber, StateStyle::isDark(pal) ? 0.28 : 0.16);
    notice->setStyleSheet(
        QStringLiteral("QFrame#notice { background-color: %1; "
                       "border: 1px solid %2; border-radius: 4px; } "
                       "QLabel { color: %3; }")
            .arg(background.name(), amber.name(), pal.color(QPalette::WindowText).name()));
}
