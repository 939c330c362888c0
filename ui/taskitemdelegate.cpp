#include "taskitemdelegate.h"

#include "tasktablemodel.h"

#include <QApplication>
#include <QMouseEvent>
#include <QPainter>
#include <QSpinBox>
#include <QStyle>
#include <QStyleOptionButton>
#include <QStyleOptionProgressBar>

#include <climits>

namespace {

constexpr int ButtonWidth = 54;

bool cancellable(const QModelIndex &index)
{
    return index.data(TaskTableModel::CancellableRole).toBool();
}

} // namespace

TaskItemDelegate::TaskItemDelegate(QObject *parent)
    : QStyledItemDelegate(parent)
{
}

QRect TaskItemDelegate::cancelButtonRect(const QRect &cell)
{
    const int width = qMin(ButtonWidth, cell.width() / 2);
    QRect r(cell.right() - width - 1, cell.top() + 1, width, cell.height() - 2);
    return r;
}

void TaskItemDelegate::paint(QPainter *painter, const QStyleOptionViewItem &option,
                             const QModelIndex &index) const
{
    switch (index.column()) {
    case TaskTableModel::Progress:
        paintProgress(painter, option, index);
        return;
    case TaskTableModel::State:
        paintState(painter, option, index);
        return;
    default:
        QStyledItemDelegate::paint(painter, option, index);
    }
}

void TaskItemDelegate::paintProgress(QPainter *painter, const QStyleOptionViewItem &option,
                                     const QModelIndex &index) const
{
    // The cell's background and selection first, then the bar over it.
    QStyleOptionViewItem background = option;
    initStyleOption(&background, index);
    background.text.clear();
    const QWidget *widget = option.widget;
    QStyle *style = widget ? widget->style() : QApplication::style();
    style->drawControl(QStyle::CE_ItemViewItem, &background, painter, widget);

    const double progress = index.data(TaskTableModel::ProgressRole).toDouble();
    if (progress < 0)
        return;
    QStyleOptionProgressBar bar;
    bar.initFrom(widget);
    bar.state = option.state | QStyle::State_Horizontal;
    bar.rect = option.rect.adjusted(3, 3, -3, -3);
    bar.minimum = 0;
    bar.maximum = 1000;
    bar.progress = qBound(0, qRound(progress * 1000), 1000);
    bar.text = index.data(Qt::DisplayRole).toString();
    bar.textVisible = true;
    bar.textAlignment = Qt::AlignCenter;
    style->drawControl(QStyle::CE_ProgressBar, &bar, painter, widget);
}

void TaskItemDelegate::paintState(QPainter *painter, const QStyleOptionViewItem &option,
                                  const QModelIndex &index) const
{
    const bool button = cancellable(index);
    QStyleOptionViewItem cell = option;
    if (button)
        cell.rect.setRight(cancelButtonRect(option.rect).left() - 2);
    // Full-width background (selection), then the icon and text in the narrowed rect.
    QStyleOptionViewItem background = option;
    initStyleOption(&background, index);
    background.text.clear();
    background.icon = QIcon();
    background.features &= ~QStyleOptionViewItem::HasDecoration;
    const QWidget *widget = option.widget;
    QStyle *style = widget ? widget->style() : QApplication::style();
    style->drawControl(QStyle::CE_ItemViewItem, &background, painter, widget);
    cell.backgroundBrush = Qt::NoBrush;
    cell.state &= ~QStyle::State_Selected;
    cell.state &= ~QStyle::State_HasFocus;
    QStyleOptionViewItem foreground = cell;
    initStyleOption(&foreground, index);
    if (option.state & QStyle::State_Selected)
        foreground.palette.setColor(QPalette::Text,
                                    option.palette.color(QPalette::HighlightedText));
    foreground.backgroundBrush = Qt::NoBrush;
    foreground.state &= ~(QStyle::State_Selected | QStyle::State_HasFocus);
    style->drawControl(QStyle::CE_ItemViewItem, &foreground, painter, widget);
    if (!button)
        return;

    QStyleOptionButton opt;
    opt.initFrom(widget);
    opt.rect = cancelButtonRect(option.rect);
    opt.text = tr("Cancel");
    opt.state = QStyle::State_Enabled;
    if (m_pressed == index)
        opt.state |= QStyle::State_Sunken;
    else
        opt.state |= QStyle::State_Raised;
    if ((option.state & QStyle::State_MouseOver) &&
        opt.rect.contains(widget ? widget->mapFromGlobal(QCursor::pos()) : QPoint(-1, -1)))
        opt.state |= QStyle::State_MouseOver;
    QFont font = option.font;
    font.setPointSizeF(font.pointSizeF() * 0.9);
    painter->save();
    painter->setFont(font);
    opt.fontMetrics = QFontMetrics(font);
    style->drawControl(QStyle::CE_PushButton, &opt, painter, widget);
    painter->restore();
}

QSize TaskItemDelegate::sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const
{
    QSize size = QStyledItemDelegate::sizeHint(option, index);
    if (index.column() == TaskTableModel::State)
        size.rwidth() += ButtonWidth + 6;
    return size;
}

void TaskItemDelegate::updateEditorGeometry(QWidget *editor, const QStyleOptionViewItem &option,
                                            const QModelIndex &index) const
{
    if (index.column() == TaskTableModel::Priority)
        editor->setGeometry(option.rect);
    else
        QStyledItemDelegate::updateEditorGeometry(editor, option, index);
}

QWidget *TaskItemDelegate::createEditor(QWidget *parent, const QStyleOptionViewItem &option,
                                        const QModelIndex &index) const
{
    if (index.column() != TaskTableModel::Priority)
        return QStyledItemDelegate::createEditor(parent, option, index);
    auto *spin = new QSpinBox(parent);
    spin->setRange(-1000000, 1000000);
    spin->setFrame(false);
    spin->setAlignment(Qt::AlignRight);
    // Opaque over the whole cell: the old value painted under it must not show beside it.
    spin->setAutoFillBackground(true);
    return spin;
}

bool TaskItemDelegate::editorEvent(QEvent *event, QAbstractItemModel *model,
                                   const QStyleOptionViewItem &option, const QModelIndex &index)
{
    if (index.column() != TaskTableModel::State)
        return QStyledItemDelegate::editorEvent(event, model, option, index);
    const auto type = event->type();
    if (type != QEvent::MouseButtonPress && type != QEvent::MouseButtonRelease &&
        type != QEvent::MouseButtonDblClick)
        return QStyledItemDelegate::editorEvent(event, model, option, index);
    auto *mouse = static_cast<QMouseEvent *>(event);
    const bool onButton = mouse->button() == Qt::LeftButton && cancellable(index) &&
                          cancelButtonRect(option.rect).contains(mouse->position().toPoint());
    if (type == QEvent::MouseButtonRelease) {
        m_pressed = QPersistentModelIndex();
        if (onButton)
            Q_EMIT cancelClicked(index.data(TaskTableModel::IdRole).value<TaskId>());
        return onButton;
    }
    if (onButton) {
        m_pressed = index;
        return true;
    }
    return false;
}
